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

    /// Lists the users of the caller's organization.
    public func listUsers() async throws -> ListUsersResult {
        try await get("\(Self.prefix)/user")
    }

    /// Changes a user's role or disables/enables them (admins); answers the user as changed.
    public func updateUser(id: String, _ request: UpdateUserRequest) async throws -> UserResult {
        try decode(try await send(.PATCH, "\(Self.prefix)/user/\(Self.segment(id))", body: try JSONEncoder().encode(request)))
    }

    /// Deletes a user (admins; never the last admin).
    public func deleteUser(id: String) async throws {
        _ = try await send(.DELETE, "\(Self.prefix)/user/\(Self.segment(id))")
    }

    /// Changes the caller's own password; every other session ends, and this answer is the new one.
    public func changePassword(current: String, new: String) async throws -> SigninResult {
        try await post("\(Self.prefix)/user/password", ChangePasswordRequest(currentPassword: current, newPassword: new))
    }

    /// Ends the session of this refresh token.
    public func signOut(refreshToken: String) async throws {
        _ = try await send(.POST, "\(Self.prefix)/signout", body: try JSONEncoder().encode(SignoutRequest(refreshToken: refreshToken)))
    }

    /// One page of the organization's audit log, newest first (admins).
    public func listAuditRecords(
        actor: String? = nil, action: String? = nil, target: String? = nil, since: String? = nil, until: String? = nil, pageSize: Int? = nil,
        nextPageToken: String? = nil
    ) async throws -> ListAuditRecordsResult {
        try await get(
            "\(Self.prefix)/audit-log",
            query: [("actor", actor), ("action", action), ("target", target), ("since", since), ("until", until)] + Self.page(pageSize, nextPageToken))
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
    public func releaseImageConfig(serviceId: String, id: String, productTierId: String? = nil, releaseNotes: String? = nil) async throws {
        try await postEmpty(
            "\(imageConfigPath(serviceId, id))/release", ReleaseImageConfigRequest(productTierId: productTierId, releaseNotes: releaseNotes))
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

    /// Pauses the latest rollout: no new instance starts until it is resumed; instances in flight finish.
    public func pauseRollout(serviceId: String, id: String) async throws -> RolloutStatusResult {
        try await post("\(imageConfigPath(serviceId, id))/rollout/pause", [String: String]())
    }

    /// Resumes a PAUSED rollout; returns its status after the change.
    public func resumeRollout(serviceId: String, id: String) async throws -> RolloutStatusResult {
        try await post("\(imageConfigPath(serviceId, id))/rollout/resume", [String: String]())
    }

    /// Cancels the latest live rollout: instances not yet started are SKIPPED, those in flight finish.
    public func cancelRollout(serviceId: String, id: String) async throws -> RolloutStatusResult {
        try await post("\(imageConfigPath(serviceId, id))/rollout/cancel", [String: String]())
    }

    /// Runs again the instances of a FAILED or CANCELLED rollout that did not reach their target.
    public func retryRollout(serviceId: String, id: String) async throws -> RolloutStatusResult {
        try await post("\(imageConfigPath(serviceId, id))/rollout/retry", [String: String]())
    }

    /// Promotes a rollout with `pauseAfterCanary` past its canary wave; returns its status after the change.
    public func promoteRollout(serviceId: String, id: String) async throws -> RolloutStatusResult {
        try await post("\(imageConfigPath(serviceId, id))/rollout/promote", [String: String]())
    }

    /// Points a rollout that has not started (SCHEDULED) at another tier version; returns its status after the change.
    public func retargetRollout(serviceId: String, id: String, version: String) async throws -> RolloutStatusResult {
        try await post("\(imageConfigPath(serviceId, id))/rollout/target-version", RetargetRolloutRequest(version: version))
    }

    /// Takes pending instances out of the live rollout (all of them or none); returns its status after the change.
    public func skipRolloutInstances(serviceId: String, id: String, instanceIds: [String]) async throws -> RolloutStatusResult {
        try await post("\(imageConfigPath(serviceId, id))/rollout/skip", SkipRolloutInstancesRequest(instanceIds: instanceIds))
    }

    /// One page of the latest rollout's instances; only those in `status` (`FAILED`, …) when it is given.
    public func rolloutInstances(serviceId: String, id: String, status: String? = nil, pageSize: Int? = nil, nextPageToken: String? = nil) async throws
        -> ListRolloutInstancesResult
    {
        try await get("\(imageConfigPath(serviceId, id))/rollout/instances", query: [("status", status)] + Self.page(pageSize, nextPageToken))
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

    /// Creates a service in the caller's organization; returns its id (`s-…`).
    public func createService(_ request: CreateServiceRequest) async throws -> String {
        try await post("\(Self.prefix)/service", request)
    }

    /// One page of the organization's services, oldest first.
    public func listServices(pageSize: Int? = nil, nextPageToken: String? = nil) async throws -> ListServicesResult {
        try await get("\(Self.prefix)/service", query: Self.page(pageSize, nextPageToken))
    }

    /// Every service of the organization, page by page.
    public func allServices() -> Paginated<ServiceResult> {
        Paginated { token in
            let page = try await self.listServices(nextPageToken: token)
            return (page.services, page.nextPageToken)
        }
    }

    /// Describes a service (`s-…`).
    public func describeService(id: String) async throws -> ServiceResult {
        try await get(servicePath(id))
    }

    /// Deletes a service; fails with 409 while it still has service environments.
    public func deleteService(id: String) async throws {
        _ = try await send(.DELETE, servicePath(id))
    }

    /// Creates a service environment (type defaults to `dev`); returns its id (`se-…`).
    public func createEnvironment(serviceId: String, _ request: CreateServiceEnvironmentRequest) async throws -> String {
        try await post("\(servicePath(serviceId))/environment", request)
    }

    /// One page of a service's environments, oldest first.
    public func listEnvironments(serviceId: String, pageSize: Int? = nil, nextPageToken: String? = nil) async throws -> ListServiceEnvironmentsResult {
        try await get("\(servicePath(serviceId))/environment", query: Self.page(pageSize, nextPageToken))
    }

    /// Describes a service environment (`se-…`).
    public func describeEnvironment(serviceId: String, id: String) async throws -> ServiceEnvironmentResult {
        try await get("\(servicePath(serviceId))/environment/\(Self.segment(id))")
    }

    /// Deletes a service environment; fails with 409 while product tiers or image configs use it.
    public func deleteEnvironment(serviceId: String, id: String) async throws {
        _ = try await send(.DELETE, "\(servicePath(serviceId))/environment/\(Self.segment(id))")
    }

    /// Creates a product tier in one of the service's environments; returns its id (`pt-…`).
    public func createProductTier(serviceId: String, _ request: CreateProductTierRequest) async throws -> String {
        try await post("\(servicePath(serviceId))/product-tier", request)
    }

    /// One page of a service's product tiers, oldest first.
    public func listProductTiers(serviceId: String, pageSize: Int? = nil, nextPageToken: String? = nil) async throws -> ListProductTiersResult {
        try await get("\(servicePath(serviceId))/product-tier", query: Self.page(pageSize, nextPageToken))
    }

    /// Describes a product tier (`pt-…`).
    public func describeProductTier(serviceId: String, id: String) async throws -> ProductTierResult {
        try await get("\(servicePath(serviceId))/product-tier/\(Self.segment(id))")
    }

    /// Deletes a product tier; fails with 409 while instances of the tier are registered.
    public func deleteProductTier(serviceId: String, id: String) async throws {
        _ = try await send(.DELETE, "\(servicePath(serviceId))/product-tier/\(Self.segment(id))")
    }

    // MARK: Image registries

    /// Adds an image registry to the caller's organization; returns its id (`ir-…`).
    public func createImageRegistry(_ request: CreateImageRegistryRequest) async throws -> String {
        try await post("\(Self.prefix)/image-registry", request)
    }

    /// One page of the organization's image registries, oldest first, the default one included.
    public func listImageRegistries(pageSize: Int? = nil, nextPageToken: String? = nil) async throws -> ListImageRegistriesResult {
        try await get("\(Self.prefix)/image-registry", query: Self.page(pageSize, nextPageToken))
    }

    /// Describes an image registry (`ir-…`); its password is never returned.
    public func describeImageRegistry(id: String) async throws -> ImageRegistryResult {
        try await get("\(Self.prefix)/image-registry/\(Self.segment(id))")
    }

    /// Changes an image registry's credentials, `insecure` or `verifyImages`.
    public func updateImageRegistry(id: String, _ request: UpdateImageRegistryRequest) async throws {
        _ = try await send(.PATCH, "\(Self.prefix)/image-registry/\(Self.segment(id))", body: try JSONEncoder().encode(request))
    }

    /// Deletes an image registry; fails with 409 for the default one or one image configs still use.
    public func deleteImageRegistry(id: String) async throws {
        _ = try await send(.DELETE, "\(Self.prefix)/image-registry/\(Self.segment(id))")
    }

    // MARK: Webhooks

    /// Subscribes `url` to `events`; returns the webhook's id (`wh-…`).
    public func createWebhook(_ request: CreateWebhookRequest) async throws -> String {
        try await post("\(Self.prefix)/webhook", request)
    }

    /// One page of the organization's webhooks, oldest first.
    public func listWebhooks(pageSize: Int? = nil, nextPageToken: String? = nil) async throws -> ListWebhooksResult {
        try await get("\(Self.prefix)/webhook", query: Self.page(pageSize, nextPageToken))
    }

    /// Describes a webhook (never its secret).
    public func describeWebhook(id: String) async throws -> WebhookResult {
        try await get("\(Self.prefix)/webhook/\(Self.segment(id))")
    }

    /// Deletes a webhook and its deliveries.
    public func deleteWebhook(id: String) async throws {
        _ = try await send(.DELETE, "\(Self.prefix)/webhook/\(Self.segment(id))")
    }

    /// One page of a webhook's deliveries, newest first.
    public func webhookDeliveries(id: String, pageSize: Int? = nil, nextPageToken: String? = nil) async throws -> ListWebhookDeliveriesResult {
        try await get("\(Self.prefix)/webhook/\(Self.segment(id))/deliveries", query: Self.page(pageSize, nextPageToken))
    }

    // MARK: Version sets

    /// One page of a product tier's tier versions, oldest first, with the image configs each pins.
    public func listVersionSets(serviceId: String, productTierId: String, pageSize: Int? = nil, nextPageToken: String? = nil) async throws
        -> ListTierVersionSetsResult
    {
        try await get("\(servicePath(serviceId))/productTier/\(Self.segment(productTierId))/version-set", query: Self.page(pageSize, nextPageToken))
    }

    /// Describes one tier version (e.g. `1.0`) of a product tier.
    public func describeVersionSet(serviceId: String, productTierId: String, version: String) async throws -> TierVersionSetResult {
        try await get("\(servicePath(serviceId))/productTier/\(Self.segment(productTierId))/version-set/\(Self.segment(version))")
    }

    /// Makes a tier version the Preferred one: what rollouts and new instances take (an older one too: a way back).
    public func promoteVersionSet(serviceId: String, productTierId: String, version: String) async throws -> TierVersionSetResult {
        try await post(
            "\(servicePath(serviceId))/productTier/\(Self.segment(productTierId))/version-set/\(Self.segment(version))/promote", [String: String]())
    }

    /// Replaces a tier version's release notes (`""` removes them).
    public func setReleaseNotes(serviceId: String, productTierId: String, version: String, releaseNotes: String) async throws -> TierVersionSetResult {
        let answer = try await send(
            .PATCH, "\(servicePath(serviceId))/productTier/\(Self.segment(productTierId))/version-set/\(Self.segment(version))",
            body: try JSONEncoder().encode(UpdateTierVersionSetRequest(releaseNotes: releaseNotes)), idempotent: true)
        return try decode(answer)
    }

    /// Deprecates a tier version: no new instance may run it; instances that run it keep it.
    public func deprecateVersionSet(serviceId: String, productTierId: String, version: String) async throws -> TierVersionSetResult {
        try await post(
            "\(servicePath(serviceId))/productTier/\(Self.segment(productTierId))/version-set/\(Self.segment(version))/deprecate", [String: String]())
    }

    /// What changes from `version` to `other`, image config by image config.
    public func diffVersionSets(serviceId: String, productTierId: String, version: String, other: String) async throws -> TierVersionDiffResult {
        try await get(
            "\(servicePath(serviceId))/productTier/\(Self.segment(productTierId))/version-set/\(Self.segment(version))/diff/\(Self.segment(other))")
    }

    // MARK: Instances

    private func instancesPath(_ serviceId: String, _ environmentId: String) -> String {
        "\(servicePath(serviceId))/environment/\(Self.segment(environmentId))/instance"
    }

    /// Registers an instance; the answer holds its agent token, shown only once.
    public func registerInstance(serviceId: String, environmentId: String, _ request: RegisterInstanceRequest) async throws -> RegisterInstanceResult {
        try await post(instancesPath(serviceId, environmentId), request)
    }

    /// One page of an environment's instances, oldest first; filters left nil match every instance.
    public func listInstances(
        serviceId: String, environmentId: String, productTierId: String? = nil, tierVersion: String? = nil, status: String? = nil,
        pageSize: Int? = nil, nextPageToken: String? = nil
    ) async throws -> ListInstancesResult {
        try await get(
            instancesPath(serviceId, environmentId),
            query: [("productTierId", productTierId), ("tierVersion", tierVersion), ("status", status)] + Self.page(pageSize, nextPageToken))
    }

    /// Describes an instance (`inst-…`), with its images and its part in the last 50 rollouts.
    public func describeInstance(serviceId: String, environmentId: String, id: String) async throws -> InstanceResult {
        try await get("\(instancesPath(serviceId, environmentId))/\(Self.segment(id))")
    }

    /// Replaces an instance's labels (`[:]` removes them); returns the instance.
    public func setInstanceLabels(serviceId: String, environmentId: String, id: String, labels: [String: String]) async throws -> InstanceResult {
        let answer = try await send(
            .PATCH, "\(instancesPath(serviceId, environmentId))/\(Self.segment(id))", body: try JSONEncoder().encode(UpdateInstanceRequest(labels: labels)),
            idempotent: true)
        return try decode(answer)
    }

    /// Deletes an instance; its agent token stops working at once.
    public func deleteInstance(serviceId: String, environmentId: String, id: String) async throws {
        _ = try await send(.DELETE, "\(instancesPath(serviceId, environmentId))/\(Self.segment(id))")
    }
}
