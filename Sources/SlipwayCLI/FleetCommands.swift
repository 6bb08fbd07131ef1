import ArgumentParser
import Foundation
import Slipway

/// The rollout policy as flags; unset flags take the server's defaults.
struct PolicyOptions: ParsableArguments {
    @Option(help: "Instances upgraded at once (server default 10).") var maxConcurrent: Int?
    @Option(help: "Instances in a first wave of their own (default 0).") var canary: Int?
    @Option(help: "Failed instances that halt the rollout (default 1).") var failureThreshold: Int?
    @Option(help: "Seconds an instance has to report success (default 600).") var instanceTimeout: Int?
    @Option(help: "Seconds to wait between waves (default 0).") var bake: Int?
    @Flag(help: "Roll upgraded instances back if the rollout halts.") var autoRollback = false
    @Option(help: "waves (default): each batch starts when the last finished; window: after the canary, keep --max-concurrent in flight.")
    var strategy: String?
    @Option(help: "Only instances carrying these labels, e.g. region=eu,tier=gold.") var selector: String?
    @Option(help: "Only this instance (inst-…); repeat for several. With --selector: those of them that carry its labels.")
    var instance: [String] = []
    @Flag(help: "After the canary wave (and its bake), wait paused until `rollout promote`.") var pauseAfterCanary = false
    @Option(help: "Start at this RFC 3339 time, e.g. 2026-12-24T09:00:00Z; SCHEDULED until then.") var at: String?
    @Option(help: "Cancel the rollout if it stays paused longer than this many seconds (default 86400).") var pausedTimeout: Int?
    @Option(
        name: [.customLong("maintenance-window"), .customLong("window")],
        help: "Start instances only in this window: [days] HH:MM-HH:MM [time zone], e.g. 'Mon,Tue,Wed,Thu,Fri 22:00-02:00 Europe/Berlin'.")
    var maintenanceWindow: String?
    @Option(help: "An HTTP check to pass after each wave (GET; 200 expected); failing it halts the rollout.") var analysisUrl: String?
    @Option(help: "A Prometheus server whose --analysis-query must meet --analysis-condition after each wave.") var analysisPrometheus: String?
    @Option(help: "The PromQL query of --analysis-prometheus.") var analysisQuery: String?
    @Option(help: "What a good measurement is, e.g. 'result < 0.01'.") var analysisCondition: String?
    @Option(help: "Seconds between measurements (default 30).") var analysisInterval: Int?
    @Option(help: "Failed measurements that halt the rollout (default 1).") var analysisFailureLimit: Int?

    var request: RolloutPolicyRequest {
        get throws {
            let labels = try selector.map(Labels.parse)
            let chosen = labels != nil || !instance.isEmpty ? RolloutSelectorWire(instanceIds: instance.isEmpty ? nil : instance, labels: labels) : nil
            return RolloutPolicyRequest(
                maxConcurrentUpgrades: maxConcurrent, canaryCount: canary, failureThreshold: failureThreshold,
                instanceTimeoutSeconds: instanceTimeout, bakeSeconds: bake, autoRollback: autoRollback ? true : nil, strategy: strategy,
                selector: chosen, pauseAfterCanary: pauseAfterCanary ? true : nil, scheduledAt: at, pausedTimeoutSeconds: pausedTimeout,
                maintenanceWindow: try maintenanceWindow.map(Self.window),
                analysis: analysisUrl == nil && analysisPrometheus == nil
                    ? nil
                    : RolloutAnalysisWire(
                        url: analysisUrl, prometheusUrl: analysisPrometheus, query: analysisQuery, successCondition: analysisCondition,
                        intervalSeconds: analysisInterval, failureLimit: analysisFailureLimit))
        }
    }
}

extension PolicyOptions {
    /// `[Mon,Tue,…] HH:MM-HH:MM [time zone]`: the days (every day when left out), the times, the zone (UTC when left out).
    static func window(_ text: String) throws -> MaintenanceWindowWire {
        var days: [String]?
        var times: (String, String)?
        var zone: String?
        for word in text.split(separator: " ").map(String.init) {
            let range = word.split(separator: "-", maxSplits: 1).map(String.init)
            if times == nil, range.count == 2, range.allSatisfy({ $0.contains(":") }) {
                times = (range[0], range[1])
            } else if days == nil, times == nil {
                days = word.split(separator: ",").map(String.init)
            } else if zone == nil, times != nil {
                zone = word
            } else {
                throw ValidationError("--maintenance-window must be [days] HH:MM-HH:MM [time zone], e.g. 'Mon,Fri 22:00-02:00 Europe/Berlin'; got '\(text)'")
            }
        }
        guard let times else {
            throw ValidationError("--maintenance-window needs its times as HH:MM-HH:MM, e.g. '22:00-02:00'; got '\(text)'")
        }
        return MaintenanceWindowWire(days: days, start: times.0, end: times.1, timeZone: zone)
    }
}

/// Labels on the command line: `key=value` pairs separated by commas.
enum Labels {
    static func parse(_ text: String) throws -> [String: String] {
        var labels: [String: String] = [:]
        for pair in text.split(separator: ",", omittingEmptySubsequences: true) {
            guard let equals = pair.firstIndex(of: "=") else {
                throw ValidationError("labels must be key=value pairs separated by commas, e.g. region=eu,tier=gold; got '\(pair)'")
            }
            labels[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
        }
        return labels
    }

    static func text(_ labels: [String: String]?) -> String {
        (labels ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }
}

struct RolloutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollout", abstract: "Roll an image config's preferred release out to the fleet.",
        subcommands: [
            Start.self, Status.self, Watch.self, Pause.self, Resume.self, Promote.self, Skip.self, TargetVersion.self, Cancel.self, Retry.self,
            Instances.self,
        ])

    /// Which image config's rollout.
    struct Target: ParsableArguments {
        @Option(help: "The service id.") var service: String
        @Argument(help: "The image config id (imgc-…).") var imageConfig: String
    }

    static func show(_ status: RolloutStatusResult, _ options: GlobalOptions) throws {
        try Output.emit(options, status) {
            Output.fields([
                ("rollout", status.id), ("status", status.status), ("progress", RolloutProgress.line(status)), ("message", status.message),
                ("versions", "\(status.sourceVersions.joined(separator: ",")) → \(status.targetVersions.joined(separator: ","))"),
                ("scheduled", status.status == "SCHEDULED" ? status.policy.scheduledAt : nil),
                ("window opens", status.windowOpensAt), ("analysis", status.lastAnalysis),
                ("promote", status.awaitingPromotion == true ? "waiting: slipway rollout promote --service … \(status.imageConfigId)" : nil),
                ("started", status.startedAt), ("finished", status.finishedAt),
            ])
        }
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a rollout, or with --dry-run show its plan.")
        @OptionGroup var options: GlobalOptions
        @OptionGroup var target: Target
        @OptionGroup var policy: PolicyOptions
        @Flag(help: "Show which instances would move in which wave, and change nothing.") var dryRun = false
        @Flag(help: "Follow the rollout until it settles.") var watch = false

        func run() async throws {
            let client = try await options.client()
            if dryRun {
                let plan = try await client.planRollout(serviceId: target.service, id: target.imageConfig, policy: try policy.request)
                try Output.emit(options, plan) {
                    Output.table(
                        ["INSTANCE", "NAME", "WAVE", "FROM", "TO", "NOTE"],
                        (plan.eligible + plan.ineligible).map {
                            [$0.instanceId, $0.instanceName, $0.wave.map(String.init) ?? "-", $0.sourceImage ?? "-", $0.targetImage ?? "-", $0.reason ?? ""]
                        })
                }
                return
            }
            let status = try await client.rolloutFleetImageConfig(serviceId: target.service, id: target.imageConfig, policy: try policy.request)
            if watch {
                if !options.json { print("Rollout \(status.id): \(status.message)") }
                try await RolloutWatch.run(client, service: target.service, imageConfig: target.imageConfig, options: options)
            } else {
                try RolloutCommand.show(status, options)
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the latest rollout.")
        @OptionGroup var options: GlobalOptions
        @OptionGroup var target: Target

        func run() async throws {
            try RolloutCommand.show(try await options.client().rolloutFleetImageStatus(serviceId: target.service, id: target.imageConfig), options)
        }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Follow the latest rollout: a live bar on a terminal, a line per change otherwise.",
            discussion: "Exits 0 when it completes, 3 when it failed, 4 when it was cancelled.")
        @OptionGroup var options: GlobalOptions
        @OptionGroup var target: Target

        func run() async throws {
            try await RolloutWatch.run(try await options.client(), service: target.service, imageConfig: target.imageConfig, options: options)
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start no new instance until resumed.")
        @OptionGroup var options: GlobalOptions
        @OptionGroup var target: Target

        func run() async throws {
            try RolloutCommand.show(try await options.client().pauseRollout(serviceId: target.service, id: target.imageConfig), options)
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume a paused rollout.")
        @OptionGroup var options: GlobalOptions
        @OptionGroup var target: Target

        func run() async throws {
            try RolloutCommand.show(try await options.client().resumeRollout(serviceId: target.service, id: target.imageConfig), options)
        }
    }

    struct Promote: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let a rollout with --pause-after-canary go on past its canary wave.")
        @OptionGroup var options: GlobalOptions
        @OptionGroup var target: Target

        func run() async throws {
            try RolloutCommand.show(try await options.client().promoteRollout(serviceId: target.service, id: target.imageConfig), options)
        }
    }

    struct TargetVersion: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "target-version", abstract: "Point a rollout that has not started (SCHEDULED) at another tier version.")
        @OptionGroup var options: GlobalOptions
        @OptionGroup var target: Target
        @Option(help: "The tier version to move to, e.g. 2.0.") var version: String

        func run() async throws {
            try RolloutCommand.show(
                try await options.client().retargetRollout(serviceId: target.service, id: target.imageConfig, version: version), options)
        }
    }

    struct Skip: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take pending instances out of the live rollout (all of them, or none).")
        @OptionGroup var options: GlobalOptions
        @OptionGroup var target: Target
        @Option(help: "An instance to skip (inst-…); repeat for several.") var instance: [String] = []

        func validate() throws {
            guard !instance.isEmpty else { throw ValidationError("name at least one --instance to skip") }
        }

        func run() async throws {
            try RolloutCommand.show(
                try await options.client().skipRolloutInstances(serviceId: target.service, id: target.imageConfig, instanceIds: instance), options)
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel: instances not yet started are skipped.")
        @OptionGroup var options: GlobalOptions
        @OptionGroup var target: Target

        func run() async throws {
            try RolloutCommand.show(try await options.client().cancelRollout(serviceId: target.service, id: target.imageConfig), options)
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run again the instances of a failed or cancelled rollout.")
        @OptionGroup var options: GlobalOptions
        @OptionGroup var target: Target
        @Flag(help: "Follow the rollout until it settles.") var watch = false

        func run() async throws {
            let client = try await options.client()
            let status = try await client.retryRollout(serviceId: target.service, id: target.imageConfig)
            if watch {
                try await RolloutWatch.run(client, service: target.service, imageConfig: target.imageConfig, options: options)
            } else {
                try RolloutCommand.show(status, options)
            }
        }
    }

    struct Instances: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each instance's part in the latest rollout.")
        @OptionGroup var options: GlobalOptions
        @OptionGroup var target: Target

        func run() async throws {
            var entries: [RolloutInstanceResult] = []
            for try await entry in try await options.client().allRolloutInstances(serviceId: target.service, id: target.imageConfig) {
                entries.append(entry)
            }
            try Output.emit(options, entries) {
                Output.table(
                    ["INSTANCE", "NAME", "WAVE", "STATUS", "FROM", "TO", "REASON"],
                    entries.map { [$0.instanceId, $0.instanceName, String($0.wave), $0.status, $0.sourceVersion, $0.targetVersion, $0.reason ?? ""] })
            }
        }
    }
}

struct InstanceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "instance", abstract: "Deployed instances and their agents.",
        subcommands: [Register.self, List.self, Describe.self, Label.self, Delete.self])

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register an instance; prints its id and its agent token (shown only now).")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String
        @Option(help: "The environment id.") var environment: String
        @Option(help: "The product tier id.") var productTier: String
        @Option(help: "A name, unique in the environment.") var name: String
        @Option(help: "The tier version it runs now (default: the Preferred one).") var version: String?
        @Option(help: "Labels, e.g. region=eu,tier=gold.") var labels: String?

        func run() async throws {
            let request = RegisterInstanceRequest(productTierId: productTier, name: name, tierVersion: version, labels: try labels.map(Labels.parse))
            let result = try await options.client().registerInstance(serviceId: service, environmentId: environment, request)
            try Output.emit(options, result) { Output.fields([("id", result.id), ("agent token", result.agentToken)]) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List an environment's instances.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String
        @Option(help: "The environment id.") var environment: String
        @Option(help: "Only this product tier.") var productTier: String?
        @Option(help: "Only instances running this tier version.") var version: String?
        @Option(help: "Only instances whose last report is APPLYING, SUCCEEDED, FAILED or UNKNOWN.") var status: String?

        func run() async throws {
            let instances = try await options.client().listInstances(
                serviceId: service, environmentId: environment, productTierId: productTier, tierVersion: version, status: status, pageSize: 1000
            ).instances
            try Output.emit(options, instances) {
                Output.table(
                    ["ID", "NAME", "TIER", "VERSION", "DESIRED", "LAST REPORT", "HEALTH", "LABELS"],
                    instances.map {
                        [
                            $0.id, $0.name, $0.productTierId, $0.tierVersion, $0.desiredTierVersion, $0.lastReport?.status ?? "-", $0.health ?? "-",
                            Labels.text($0.labels),
                        ]
                    })
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an instance, its images and its upgrade history.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String
        @Option(help: "The environment id.") var environment: String
        @Argument(help: "The instance id (inst-…).") var id: String

        func run() async throws {
            let instance = try await options.client().describeInstance(serviceId: service, environmentId: environment, id: id)
            try Output.emit(options, instance) {
                Output.fields([
                    ("id", instance.id), ("name", instance.name), ("tier", instance.productTierId), ("version", instance.tierVersion),
                    ("desired", instance.desiredTierVersion), ("last report", instance.lastReport.map { "\($0.status) at \($0.reportedAt)" }),
                    ("message", instance.lastReport?.message), ("health", instance.health), ("labels", Labels.text(instance.labels)),
                    ("images", instance.images?.map(\.image).joined(separator: ", ")),
                ]) + "\n\n"
                    + Output.table(
                        ["ROLLOUT", "STATUS", "FROM", "TO", "ENDED"],
                        (instance.upgradeHistory ?? []).map { [$0.rolloutId, $0.status, $0.sourceVersion, $0.targetVersion, $0.endedAt ?? "-"] })
            }
        }
    }

    struct Label: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Replace an instance's labels (an empty --labels removes them).")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String
        @Option(help: "The environment id.") var environment: String
        @Argument(help: "The instance id (inst-…).") var id: String
        @Option(help: "Labels, e.g. region=eu,tier=gold.") var labels: String

        func run() async throws {
            let instance = try await options.client().setInstanceLabels(
                serviceId: service, environmentId: environment, id: id, labels: try Labels.parse(labels))
            try Output.emit(options, instance) { Output.fields([("id", instance.id), ("labels", Labels.text(instance.labels))]) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an instance; its agent token stops working.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The service id.") var service: String
        @Option(help: "The environment id.") var environment: String
        @Argument(help: "The instance id (inst-…).") var id: String

        func run() async throws {
            try await options.client().deleteInstance(serviceId: service, environmentId: environment, id: id)
            try Output.deleted(id, options)
        }
    }
}
