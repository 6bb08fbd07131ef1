import ArgumentParser
import Foundation
import Slipway

// Services, environments, product tiers, registries and version sets: create, list, describe, delete.

struct ServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service", abstract: "Services.", subcommands: [Create.self, List.self, Describe.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a service; prints its id.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service's name.") var name: String
        @Option(help: "What it is.") var description: String?

        func run() async throws {
            let id = try await options.client().createService(CreateServiceRequest(name: name, description: description))
            try Output.emit(options, ["id": id]) { id }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List services.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            var services: [ServiceResult] = []
            for try await service in try await options.client().allServices() { services.append(service) }
            try Output.emit(options, services) {
                Output.table(["ID", "NAME", "DESCRIPTION", "CREATED"], services.map { [$0.id, $0.name, $0.description, $0.createdAt] })
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a service.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The service id (s-…).") var id: String

        func run() async throws {
            let service = try await options.client().describeService(id: id)
            try Output.emit(options, service) {
                Output.fields([("id", service.id), ("name", service.name), ("description", service.description), ("created", service.createdAt)])
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a service without environments.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The service id (s-…).") var id: String

        func run() async throws {
            try await options.client().deleteService(id: id)
            try Output.deleted(id, options)
        }
    }
}

struct EnvironmentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "environment", abstract: "Service environments.", subcommands: [Create.self, List.self, Describe.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an environment; prints its id.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String
        @Option(help: "The environment's name.") var name: String
        @Option(help: "dev, qa, staging, canary, prod or private.") var type: String?
        @Option(help: "What it is for.") var description: String?

        func run() async throws {
            let id = try await options.client().createEnvironment(
                serviceId: service, CreateServiceEnvironmentRequest(name: name, description: description, type: type))
            try Output.emit(options, ["id": id]) { id }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a service's environments.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String

        func run() async throws {
            let environments = try await options.client().listEnvironments(serviceId: service, pageSize: 1000).serviceEnvironments
            try Output.emit(options, environments) {
                Output.table(["ID", "NAME", "TYPE", "DESCRIPTION"], environments.map { [$0.id, $0.name, $0.type, $0.description] })
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an environment.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String
        @Argument(help: "The environment id (se-…).") var id: String

        func run() async throws {
            let environment = try await options.client().describeEnvironment(serviceId: service, id: id)
            try Output.emit(options, environment) {
                Output.fields([
                    ("id", environment.id), ("service", environment.serviceId), ("name", environment.name), ("type", environment.type),
                    ("description", environment.description), ("created", environment.createdAt),
                ])
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an unused environment.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String
        @Argument(help: "The environment id (se-…).") var id: String

        func run() async throws {
            try await options.client().deleteEnvironment(serviceId: service, id: id)
            try Output.deleted(id, options)
        }
    }
}

struct ProductTierCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "product-tier", abstract: "Product tiers.", subcommands: [Create.self, List.self, Describe.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a product tier in an environment; prints its id.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String
        @Option(help: "The environment id.") var environment: String
        @Option(help: "The tier's name.") var name: String
        @Option(help: "What it offers.") var description: String?

        func run() async throws {
            let id = try await options.client().createProductTier(
                serviceId: service, CreateProductTierRequest(name: name, serviceEnvironmentId: environment, description: description))
            try Output.emit(options, ["id": id]) { id }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a service's product tiers.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String

        func run() async throws {
            let tiers = try await options.client().listProductTiers(serviceId: service, pageSize: 1000).productTiers
            try Output.emit(options, tiers) {
                Output.table(
                    ["ID", "NAME", "ENVIRONMENT", "PREFERRED"], tiers.map { [$0.id, $0.name, $0.serviceEnvironmentId, $0.preferredVersion ?? "-"] })
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a product tier.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String
        @Argument(help: "The product tier id (pt-…).") var id: String

        func run() async throws {
            let tier = try await options.client().describeProductTier(serviceId: service, id: id)
            try Output.emit(options, tier) {
                Output.fields([
                    ("id", tier.id), ("name", tier.name), ("environment", tier.serviceEnvironmentId),
                    ("preferred version", tier.preferredVersion ?? "none yet"), ("description", tier.description), ("created", tier.createdAt),
                ])
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a product tier and its versions.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String
        @Argument(help: "The product tier id (pt-…).") var id: String

        func run() async throws {
            try await options.client().deleteProductTier(serviceId: service, id: id)
            try Output.deleted(id, options)
        }
    }
}

struct RegistryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registry", abstract: "Image registries.", subcommands: [Create.self, List.self, Describe.self, Update.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add an image registry; prints its id.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "A name for it.") var name: String
        @Option(help: "Host and optional port, e.g. ghcr.io or 127.0.0.1:5000.") var host: String
        @Option(help: "User name for pulls.") var username: String?
        @Option(help: "Password or token for pulls (or SLIPWAY_REGISTRY_PASSWORD).") var password: String?
        @Flag(help: "Speak plain HTTP to it instead of HTTPS.") var insecure = false
        @Flag(
            inversion: .prefixedNo,
            help: "Whether releases resolve tags to digests here and check cosign signatures (default: yes).")
        var verifyImages = true

        func run() async throws {
            let secret = password ?? ProcessInfo.processInfo.environment["SLIPWAY_REGISTRY_PASSWORD"]
            let id = try await options.client().createImageRegistry(
                CreateImageRegistryRequest(
                    name: name, host: host, username: username, password: secret, insecure: insecure, verifyImages: verifyImages))
            try Output.emit(options, ["id": id]) { id }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List image registries.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let registries = try await options.client().listImageRegistries(pageSize: 1000).imageRegistries
            try Output.emit(options, registries) {
                Output.table(
                    ["ID", "NAME", "HOST", "VERIFY", "DEFAULT"],
                    registries.map { [$0.id, $0.name, $0.host, $0.verifyImages ? "yes" : "no", $0.isDefault ? "yes" : ""] })
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an image registry (never its password).")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The registry id (ir-…).") var id: String

        func run() async throws {
            let registry = try await options.client().describeImageRegistry(id: id)
            try Output.emit(options, registry) {
                Output.fields([
                    ("id", registry.id), ("name", registry.name), ("host", registry.host), ("username", registry.username),
                    ("password", registry.hasPassword ? "set" : "none"), ("protocol", registry.insecure ? "http" : "https"),
                    ("verify images", registry.verifyImages ? "yes" : "no"), ("default", registry.isDefault ? "yes" : "no"),
                ])
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change an image registry's credentials or settings.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The registry id (ir-…).") var id: String
        @Option(help: "New user name (empty removes it).") var username: String?
        @Option(help: "New password or token (or SLIPWAY_REGISTRY_PASSWORD; empty removes it).") var password: String?
        @Option(help: "true for plain HTTP, false for HTTPS.") var insecure: Bool?
        @Option(help: "true to resolve digests and check signatures at release, false not to.") var verifyImages: Bool?

        func run() async throws {
            let secret = password ?? ProcessInfo.processInfo.environment["SLIPWAY_REGISTRY_PASSWORD"]
            try await options.client().updateImageRegistry(
                id: id, UpdateImageRegistryRequest(username: username, password: secret, insecure: insecure, verifyImages: verifyImages))
            try Output.emit(options, ["updated": id]) { "Updated \(id)." }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an unused image registry.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The registry id (ir-…).") var id: String

        func run() async throws {
            try await options.client().deleteImageRegistry(id: id)
            try Output.deleted(id, options)
        }
    }
}

struct VersionSetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version-set", abstract: "Tier versions and the images they pin.",
        subcommands: [List.self, Describe.self, Notes.self, Promote.self, Deprecate.self, Diff.self])

    struct Notes: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Replace a version's release notes (an empty --release-notes removes them).")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String
        @Option(help: "The product tier id.") var productTier: String
        @Argument(help: "The version, e.g. 2.0.") var version: String
        @Option(help: "The release notes.") var releaseNotes: String

        func run() async throws {
            let set = try await options.client().setReleaseNotes(serviceId: service, productTierId: productTier, version: version, releaseNotes: releaseNotes)
            try Output.emit(options, set) { Output.fields([("version", set.version), ("release notes", set.releaseNotes)]) }
        }
    }

    struct Promote: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a version the Preferred one (rollouts and new instances take it).")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String
        @Option(help: "The product tier id.") var productTier: String
        @Argument(help: "The version, e.g. 2.0.") var version: String

        func run() async throws {
            let set = try await options.client().promoteVersionSet(serviceId: service, productTierId: productTier, version: version)
            try Output.emit(options, set) { Output.fields([("version", set.version), ("status", set.status)]) }
        }
    }

    struct Deprecate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deprecate a version: no new instance may run it.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String
        @Option(help: "The product tier id.") var productTier: String
        @Argument(help: "The version, e.g. 1.0.") var version: String

        func run() async throws {
            let set = try await options.client().deprecateVersionSet(serviceId: service, productTierId: productTier, version: version)
            try Output.emit(options, set) { Output.fields([("version", set.version), ("status", set.status)]) }
        }
    }

    struct Diff: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "What changes from one version to another, image config by image config.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String
        @Option(help: "The product tier id.") var productTier: String
        @Argument(help: "The version to compare from, e.g. 1.0.") var version: String
        @Argument(help: "The version to compare to, e.g. 2.0.") var other: String

        func run() async throws {
            let diff = try await options.client().diffVersionSets(serviceId: service, productTierId: productTier, version: version, other: other)
            try Output.emit(options, diff) {
                Output.table(
                    ["IMAGE CONFIG", "CHANGE", "FIELD", "BEFORE", "AFTER"],
                    diff.imageConfigs.flatMap { config in
                        config.fields.map { [config.imageConfigId, config.change, $0.field, $0.before ?? "-", $0.after ?? "-"] }
                    })
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a product tier's versions.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String
        @Option(help: "The product tier id.") var productTier: String

        func run() async throws {
            let sets = try await options.client().listVersionSets(serviceId: service, productTierId: productTier, pageSize: 1000).tierVersionSets
            try Output.emit(options, sets) {
                Output.table(
                    ["VERSION", "STATUS", "RELEASED", "BY", "IMAGES"],
                    sets.map { [$0.version, $0.status, $0.releasedAt, $0.releasedBy, $0.imageConfigs.map(\.imageTag).joined(separator: ",")] })
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a tier version and its images.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String
        @Option(help: "The product tier id.") var productTier: String
        @Argument(help: "The version, e.g. 2.0.") var version: String

        func run() async throws {
            let set = try await options.client().describeVersionSet(serviceId: service, productTierId: productTier, version: version)
            try Output.emit(options, set) {
                Output.fields([
                    ("version", set.version), ("status", set.status), ("released", set.releasedAt), ("by", set.releasedBy),
                    ("release notes", set.releaseNotes),
                ]) + "\n\n"
                    + Output.table(
                        ["IMAGE CONFIG", "IMAGE", "DIGEST"],
                        set.imageConfigs.map {
                            [$0.imageConfigId, "\($0.imageRegistryHost)/\($0.imageName):\($0.imageTag)", $0.imageDigest ?? "(not pinned)"]
                        })
            }
        }
    }
}
