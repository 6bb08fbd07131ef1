import ArgumentParser
import Foundation
import Slipway

struct ImageConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image-config", abstract: "Image configs: the images a service runs, released into product tiers.",
        subcommands: [Create.self, Describe.self, List.self, Update.self, Delete.self, Release.self])

    /// The fields Create and Update share.
    struct SpecOptions: ParsableArguments {
        @Option(help: "Image name, e.g. library/postgres.") var image: String?
        @Option(help: "Image tag (default on create: latest).") var tag: String?
        @Option(help: "What it is.") var description: String?
        @Option(help: "Image registry id (default: the organization's default registry).") var registry: String?
        @Option(help: "File with the PEM public key that signs the image.") var publicKeyFile: String?
        @Option(help: "A container command; repeat for several.") var command: [String] = []
        @Option(help: "A container argument; repeat for several.") var arg: [String] = []

        func publicKey() throws -> String? {
            guard let publicKeyFile else { return nil }
            do {
                return try String(contentsOfFile: publicKeyFile, encoding: .utf8)
            } catch {
                throw CLIError.usage("cannot read --public-key-file \(publicKeyFile): \(error.localizedDescription)")
            }
        }

        var commandsAndArgs: CustomImageCommandsAndArgs? {
            command.isEmpty && arg.isEmpty ? nil : CustomImageCommandsAndArgs(args: arg.isEmpty ? nil : arg, commands: command.isEmpty ? nil : command)
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an image config; prints its id.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String
        @Option(help: "The environment id.") var environment: String
        @OptionGroup var spec: SpecOptions

        func run() async throws {
            guard let image = spec.image else { throw CLIError.usage("pass --image, e.g. --image library/postgres") }
            let id = try await options.client().createImageConfig(
                serviceId: service,
                CreateImageConfigRequest(
                    description: spec.description ?? "", imageName: image, serviceEnvironmentId: environment, imageTag: spec.tag,
                    imageRegistryId: spec.registry, imageSignaturePublicKeyPEM: try spec.publicKey(), customImageCommandsAndArgs: spec.commandsAndArgs))
            try Output.emit(options, ["id": id]) { id }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the working copy, or with --product-tier and --version a release.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String
        @Argument(help: "The image config id (imgc-…).") var id: String
        @Option(help: "A product tier id, to show what it released.") var productTier: String?
        @Option(help: "A tier version such as 2.0 (needs --product-tier).") var version: String?

        func run() async throws {
            let config = try await options.client().describeImageConfig(serviceId: service, id: id, productTierId: productTier, productTierVersion: version)
            try Output.emit(options, config) {
                Output.fields([
                    ("id", config.id), ("service", config.serviceId), ("environment", config.serviceEnvironmentId),
                    ("image", "\(config.imageName):\(config.imageTag)"), ("registry", config.imageRegistryId), ("description", config.description),
                    ("commands", config.customImageCommandsAndArgs?.commands?.joined(separator: " ")),
                    ("args", config.customImageCommandsAndArgs?.args?.joined(separator: " ")),
                    ("signed by", config.imageSignaturePublicKeyPEM == nil ? nil : "a public key (see --json)"),
                    ("tier version", config.productTierVersion.map { "\($0) of \(config.productTierId ?? "")" }),
                    ("digest", config.imageDigest),
                ])
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List an environment's image configs.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String
        @Option(help: "The environment id.") var environment: String

        func run() async throws {
            let client = try await options.client()
            var configs: [DescribeImageConfigResult] = []
            for try await id in client.allImageConfigIDs(serviceId: service, serviceEnvironmentId: environment) {
                configs.append(try await client.describeImageConfig(serviceId: service, id: id))
            }
            try Output.emit(options, configs) {
                Output.table(["ID", "IMAGE", "TAG", "DESCRIPTION"], configs.map { [$0.id, $0.imageName, $0.imageTag, $0.description] })
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change an image config; with --release, --rollout and --watch, ship it in one command.",
            discussion: "slipway image-config update --service s-… imgc-… --tag v2 --release --rollout --watch")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String
        @Argument(help: "The image config id (imgc-…).") var id: String
        @OptionGroup var spec: SpecOptions
        @Flag(help: "Release it afterwards.") var release = false
        @Option(help: "Release into this product tier only.") var productTier: String?
        @Option(help: "Release notes kept with the new tier version.") var releaseNotes: String?
        @Flag(help: "Roll the release out to the fleet afterwards.") var rollout = false
        @OptionGroup var policy: PolicyOptions
        @Flag(help: "Follow the rollout until it settles; the exit status says how it ended.") var watch = false

        func run() async throws {
            if watch && !rollout { throw CLIError.usage("--watch follows the rollout: add --rollout") }
            let client = try await options.client()
            let change = UpdateImageConfigRequest(
                description: spec.description, imageName: spec.image, imageTag: spec.tag, imageRegistryId: spec.registry,
                imageSignaturePublicKeyPEM: try spec.publicKey(), customImageCommandsAndArgs: spec.commandsAndArgs)
            if change != UpdateImageConfigRequest() {
                try await client.updateImageConfig(serviceId: service, id: id, change)
                if !options.json { print("Updated \(id).") }
            }
            if release {
                try await client.releaseImageConfig(serviceId: service, id: id, productTierId: productTier, releaseNotes: releaseNotes)
                if !options.json { print("Released \(id).") }
            }
            guard rollout else { return }
            let started = try await client.rolloutFleetImageConfig(serviceId: service, id: id, policy: try policy.request)
            if watch {
                if !options.json { print("Rollout \(started.id): \(started.message)") }
                try await RolloutWatch.run(client, service: service, imageConfig: id, options: options)
            } else {
                try Output.emit(options, started) { "Rollout \(started.id) \(started.status): \(started.message)" }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an image config no release pins.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String
        @Argument(help: "The image config id (imgc-…).") var id: String

        func run() async throws {
            try await options.client().deleteImageConfig(serviceId: service, id: id)
            try Output.deleted(id, options)
        }
    }

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Release the working copy as a new tier version.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String
        @Argument(help: "The image config id (imgc-…).") var id: String
        @Option(help: "Release into this product tier only (default: every tier of the environment).") var productTier: String?
        @Option(help: "Release notes kept with the new tier version.") var releaseNotes: String?

        func run() async throws {
            try await options.client().releaseImageConfig(serviceId: service, id: id, productTierId: productTier, releaseNotes: releaseNotes)
            try Output.emit(options, ["released": id]) { "Released \(id)." }
        }
    }
}
