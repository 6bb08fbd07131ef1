import ArgumentParser
import Foundation
import Slipway
import SlipwayWire

struct WebhookCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhook", abstract: "Webhooks: events POSTed to a URL, signed, delivered at least once.",
        subcommands: [Create.self, List.self, Describe.self, Deliveries.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Subscribe a URL to events; prints the webhook's id.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "Where events are POSTed (http or https).") var endpoint: String
        @Option(
            help: "Events, comma-separated: release, rollout.started, rollout.paused, rollout.resumed, rollout.halted, rollout.completed, rollout.cancelled, instance.failed."
        )
        var events: String
        @Option(help: "The signing secret, 16 to 256 bytes (or SLIPWAY_WEBHOOK_SECRET).") var secret: String?

        func run() async throws {
            guard let secret = secret ?? ProcessInfo.processInfo.environment["SLIPWAY_WEBHOOK_SECRET"] else {
                throw ValidationError("give the signing secret with --secret or SLIPWAY_WEBHOOK_SECRET")
            }
            let id = try await options.client().createWebhook(
                CreateWebhookRequest(url: endpoint, events: events.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }, secret: secret))
            try Output.emit(options, ["id": id]) { id }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List webhooks.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let webhooks = try await options.client().listWebhooks(pageSize: 1000).webhooks
            try Output.emit(options, webhooks) {
                Output.table(["ID", "URL", "EVENTS", "CREATED BY"], webhooks.map { [$0.id, $0.url, $0.events.joined(separator: ","), $0.createdBy] })
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a webhook.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The webhook id (wh-…).") var id: String

        func run() async throws {
            let webhook = try await options.client().describeWebhook(id: id)
            try Output.emit(options, webhook) {
                Output.fields([
                    ("id", webhook.id), ("url", webhook.url), ("events", webhook.events.joined(separator: ", ")), ("created by", webhook.createdBy),
                    ("created", webhook.createdAt),
                ])
            }
        }
    }

    struct Deliveries: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A webhook's deliveries, newest first, with their attempts.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The webhook id (wh-…).") var id: String

        func run() async throws {
            let deliveries = try await options.client().webhookDeliveries(id: id, pageSize: 100).deliveries
            try Output.emit(options, deliveries) {
                Output.table(
                    ["DELIVERY", "EVENT", "STATUS", "ATTEMPTS", "LAST ANSWER", "NEXT ATTEMPT"],
                    deliveries.map {
                        [$0.id, $0.event, $0.status, String($0.attempts), $0.lastStatusCode.map(String.init) ?? $0.lastError ?? "-", $0.nextAttemptAt ?? "-"]
                    })
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a webhook and its deliveries.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The webhook id (wh-…).") var id: String

        func run() async throws {
            try await options.client().deleteWebhook(id: id)
            try Output.deleted(id, options)
        }
    }
}
