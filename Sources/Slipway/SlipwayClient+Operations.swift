import Foundation
import NIOHTTP1

// Every operation, one method each. The upstream Image Config API methods are named after the Go SDK's
// (`ImageConfigApiCreateImageConfig` → `createImageConfig`); docs/SDK.md has the whole table.

extension SlipwayClient {
    private static let prefix = "/2022-09-01-00"

    private func servicePath(_ serviceId: String) -> String { "\(Self.prefix)/service/\(Self.segment(serviceId))" }

    private func imageConfigPath(_ serviceId: String, _ id: String) -> String {
        "\(servicePath(serviceId))/image-config/\(Self.segment(id))"
    }

    private static func page(_ pageSize: Int?, _ token: String?) -> [(String, String?)] {
        [("pageSize", pageSize.map(String.init)), ("nextPageToken", token)]
    }

    // MARK: Sign-in and users

    /// Signs in; later calls of this client use the token.
    @discardableResult
    public func signIn(email: String, password: String) async throws -> SigninResult {
        let result: SigninResult = try await post("\(Self.prefix)/signin", SigninRequest(email: email, password: password), authenticated: false)
        await session.store(result)
        return result
    }

    /// Trades a refresh token for a new session (each refresh token works once).
    public func refreshToken(_ refreshToken: String) async throws -> SigninResult {
        try await post("\(Self.prefix)/refresh-token", RefreshTokenRequest(refreshToken: refreshToken), authenticated: false)
    }

    /// Creates an organization and its admin, on servers that allow sign-up.
    public func signUp(_ request: SignupRequest) async throws -> SignupResult {
        try await post("\(Self.prefix)/signup", request, authenticated: false)
    }

    /// Adds a user to the caller's organization (admins only); returns the user id.
    public func createUser(_ request: CreateUserRequest) async throws -> String {
        try await post("\(Self.prefix)/user", request)
    }

    public func listUsers() async throws -> ListUsersResult {
        try await get("\(Self.prefix)/user")
    }

    // MARK: Image configs (the upstream API)

    /// `ImageConfigApiCreateImageConfig`: returns the new id.
    public func createImageConfig(serviceId: String, _ request: CreateImageConfigRequest) async throws -> String {
        try await post("\(servicePath(serviceId))/image-config", request)
    }

    /// `ImageConfigApiDescribeImageConfig`: the working copy, or with a tier and version the released snapshot.
    public func describeImageConfig(
        serviceId: String, id: String, productTierId: String? = nil, productTierVersion: String? = nil
    ) async throws -> DescribeImageConfigResult {
        try await get(imageConfigPath(serviceId, id), query: [("ProductTierId", productTierId), ("ProductTierVersion", productTierVersion)])
    }

    /// `ImageConfigApiListImageConfigs`: one page of ids.
    public func listImageConfigs(
        serviceId: String, serviceEnvironmentId: String, pageSize: Int? = nil, nextPageToken: String? = nil
    ) async throws -> ListImageConfigsResult {
        try await get(
            "\(servicePath(serviceId))/serviceenvironment/\(Self.segment(serviceEnvironmentId))/image-config",
            query: Self.page(pageSize, nextPageToken))
    }

    /// Every image config id of an environment, page by page.
    public func allImageConfigIDs(serviceId: String, serviceEnvironmentId: String, pageSize: Int? = nil) -> Paginated<String> {
        Paginated { token in
            let page = try await self.listImageConfigs(
                serviceId: serviceId, serviceEnvironmentId: serviceEnvironmentId, pageSize: pageSize, nextPageToken: token)
            return (page.ids, page.nextPageToken)
        }
    }

    /// `ImageConfigApiUpdateImageConfig`: changes only the fields set.
    public func updateImageConfig(serviceId: String, id: String, _ request: UpdateImageConfigRequest) async throws {
        _ = try await send(.PATCH, imageConfigPath(serviceId, id), body: try JSONEncoder().encode(request))
    }

    /// `ImageConfigApiDeleteImageConfig`.
    public func deleteImageConfig(serviceId: String, id: String) async throws {
        _ = try await send(.DELETE, imageConfigPath(serviceId, id))
    }

    /// `ImageConfigApiReleaseImageConfig`: a new tier version in one tier, or in every tier of the environment.
    public func releaseImageConfig(serviceId: String, id: String, productTierId: String? = nil) async throws {
        try await postEmpty("\(imageConfigPath(serviceId, id))/release", ReleaseImageConfigRequest(productTierId: productTierId))
    }

    /// `ImageConfigApiRolloutFleetImageConfig`: starts a rollout of the preferred release; the policy is optional.
    public func rolloutFleetImageConfig(serviceId: String, id: String, policy: RolloutPolicyRequest = .init()) async throws -> RolloutStatusResult {
        var policy = policy
        policy.dryRun = nil
        return try await post("\(imageConfigPath(serviceId, id))/rollout", policy)
    }

    /// What a rollout with this policy would do; changes nothing.
    public func planRollout(serviceId: String, id: String, policy: RolloutPolicyRequest = .init()) async throws -> RolloutPlanResult {
        var policy = policy
        policy.dryRun = true
        return try await post("\(imageConfigPath(serviceId, id))/rollout", policy)
    }

    /// `ImageConfigApiRolloutFleetImageStatus`: the latest rollout, with its counts.
    public func rolloutFleetImageStatus(serviceId: String, id: String) async throws -> RolloutStatusResult {
        try await get("\(imageConfigPath(serviceId, id))/rollout")
    }

    public func pauseRollout(serviceId: String, id: String) async throws -> RolloutStatusResult {
        try await post("\(imageConfigPath(serviceId, id))/rollout/pause", [String: String]())
    }

    public func resumeRollout(serviceId: String, id: String) async throws -> RolloutStatusResult {
        try await post("\(imageConfigPath(serviceId, id))/rollout/resume", [String: String]())
    }

    public func cancelRollout(serviceId: String, id: String) async throws -> RolloutStatusResult {
        try await post("\(imageConfigPath(serviceId, id))/rollout/cancel", [String: String]())
    }

    /// Runs again the instances of a FAILED or CANCELLED rollout that did not reach their target.
    public func retryRollout(serviceId: String, id: String) async throws -> RolloutStatusResult {
        try await post("\(imageConfigPath(serviceId, id))/rollout/retry", [String: String]())
    }

    /// One page of the latest rollout's instances.
    public func rolloutInstances(serviceId: String, id: String, pageSize: Int? = nil, nextPageToken: String? = nil) async throws
        -> ListRolloutInstancesResult
    {
        try await get("\(imageConfigPath(serviceId, id))/rollout/instances", query: Self.page(pageSize, nextPageToken))
    }

    /// Every instance of the latest rollout, page by page.
    public func allRolloutInstances(serviceId: String, id: String) -> Paginated<RolloutInstanceResult> {
        Paginated { token in
            let page = try await self.rolloutInstances(serviceId: serviceId, id: id, nextPageToken: token)
            return (page.instances, page.nextPageToken)
        }
    }

    /// Past rollouts of an image config, oldest first.
    public func rollouts(serviceId: String, id: String, pageSize: Int? = nil, nextPageToken: String? = nil) async throws -> ListRolloutsResult {
        try await get("\(imageConfigPath(serviceId, id))/rollouts", query: Self.page(pageSize, nextPageToken))
    }

    /// The latest rollout's status each time it changes, ending with its first terminal status
    /// (`COMPLETE`, `FAILED`, `CANCELLED`; a FAILED rollout that rolls back ends once the rollback settled).
    public func watchRollout(serviceId: String, id: String, every interval: Duration = .seconds(1)) -> AsyncThrowingStream<RolloutStatusResult, Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                var last: RolloutStatusResult?
                do {
                    while !Task.isCancelled {
                        let status = try await self.rolloutFleetImageStatus(serviceId: serviceId, id: id)
                        if status != last {
                            continuation.yield(status)
                            last = status
                        }
                        if Self.isSettled(status) { break }
                        try await Task.sleep(for: interval)
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Whether a rollout will not change any more.
    public static func isSettled(_ status: RolloutStatusResult) -> Bool {
        ["COMPLETE", "FAILED", "CANCELLED"].contains(status.status) && status.inProgress == 0 && status.rollingBack == 0
    }

    // MARK: Services, environments, product tiers

    public func createService(_ request: CreateServiceRequest) async throws -> String {
        try await post("\(Self.prefix)/service", request)
    }

    public func listServices(pageSize: Int? = nil, nextPageToken: String? = nil) async throws -> ListServicesResult {
        try await get("\(Self.prefix)/service", query: Self.page(pageSize, nextPageToken))
    }

    public func allServices() -> Paginated<ServiceResult> {
        Paginated { token in
            let page = try await self.listServices(nextPageToken: token)
            return (page.services, page.nextPageToken)
        }
    }

    public func describeService(id: String) async throws -> ServiceResult {
        try await get(servicePath(id))
    }

    public func deleteService(id: String) async throws {
        _ = try await send(.DELETE, servicePath(id))
    }

    public func createEnvironment(serviceId: String, _ request: CreateServiceEnvironmentRequest) async throws -> String {
        try await post("\(servicePath(serviceId))/environment", request)
    }

    public func listEnvironments(serviceId: String, pageSize: Int? = nil, nextPageToken: String? = nil) async throws -> ListServiceEnvironmentsResult {
        try await get("\(servicePath(serviceId))/environment", query: Self.page(pageSize, nextPageToken))
    }

    public func describeEnvironment(serviceId: String, id: String) async throws -> ServiceEnvironmentResult {
        try await get("\(servicePath(serviceId))/environment/\(Self.segment(id))")
    }

    public func deleteEnvironment(serviceId: String, id: String) async throws {
        _ = try await send(.DELETE, "\(servicePath(serviceId))/environment/\(Self.segment(id))")
    }

    public func createProductTier(serviceId: String, _ request: CreateProductTierRequest) async throws -> String {
        try await post("\(servicePath(serviceId))/product-tier", request)
    }

    public func listProductTiers(serviceId: String, pageSize: Int? = nil, nextPageToken: String? = nil) async throws -> ListProductTiersResult {
        try await get("\(servicePath(serviceId))/product-tier", query: Self.page(pageSize, nextPageToken))
    }

    public func describeProductTier(serviceId: String, id: String) async throws -> ProductTierResult {
        try await get("\(servicePath(serviceId))/product-tier/\(Self.segment(id))")
    }

    public func deleteProductTier(serviceId: String, id: String) async throws {
        _ = try await send(.DELETE, "\(servicePath(serviceId))/product-tier/\(Self.segment(id))")
    }

    // MARK: Image registries

    public func createImageRegistry(_ request: CreateImageRegistryRequest) async throws -> String {
        try await post("\(Self.prefix)/image-registry", request)
    }

    public func listImageRegistries(pageSize: Int? = nil, nextPageToken: String? = nil) async throws -> ListImageRegistriesResult {
        try await get("\(Self.prefix)/image-registry", query: Self.page(pageSize, nextPageToken))
    }

    public func describeImageRegistry(id: String) async throws -> ImageRegistryResult {
        try await get("\(Self.prefix)/image-registry/\(Self.segment(id))")
    }

    public func deleteImageRegistry(id: String) async throws {
        _ = try await send(.DELETE, "\(Self.prefix)/image-registry/\(Self.segment(id))")
    }

    // MARK: Version sets

    public func listVersionSets(serviceId: String, productTierId: String, pageSize: Int? = nil, nextPageToken: String? = nil) async throws
        -> ListTierVersionSetsResult
    {
        try await get("\(servicePath(serviceId))/productTier/\(Self.segment(productTierId))/version-set", query: Self.page(pageSize, nextPageToken))
    }

    public func describeVersionSet(serviceId: String, productTierId: String, version: String) async throws -> TierVersionSetResult {
        try await get("\(servicePath(serviceId))/productTier/\(Self.segment(productTierId))/version-set/\(Self.segment(version))")
    }

    // MARK: Instances

    private func instancesPath(_ serviceId: String, _ environmentId: String) -> String {
        "\(servicePath(serviceId))/environment/\(Self.segment(environmentId))/instance"
    }

    /// Registers an instance; the answer holds its agent token, shown only once.
    public func registerInstance(serviceId: String, environmentId: String, _ request: RegisterInstanceRequest) async throws -> RegisterInstanceResult {
        try await post(instancesPath(serviceId, environmentId), request)
    }

    public func listInstances(
        serviceId: String, environmentId: String, productTierId: String? = nil, tierVersion: String? = nil, status: String? = nil,
        pageSize: Int? = nil, nextPageToken: String? = nil
    ) async throws -> ListInstancesResult {
        try await get(
            instancesPath(serviceId, environmentId),
            query: [("productTierId", productTierId), ("tierVersion", tierVersion), ("status", status)] + Self.page(pageSize, nextPageToken))
    }

    public func describeInstance(serviceId: String, environmentId: String, id: String) async throws -> InstanceResult {
        try await get("\(instancesPath(serviceId, environmentId))/\(Self.segment(id))")
    }

    public func deleteInstance(serviceId: String, environmentId: String, id: String) async throws {
        _ = try await send(.DELETE, "\(instancesPath(serviceId, environmentId))/\(Self.segment(id))")
    }
}
