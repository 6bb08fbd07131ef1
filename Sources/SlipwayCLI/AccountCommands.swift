import ArgumentParser
import Foundation
import Slipway

// Users of the organization and the audit log.

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Users of your organization.", subcommands: [Create.self, List.self, Update.self, Delete.self, Password.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user (admins); prints the id.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Their email.") var email: String
        @Option(help: "admin, editor or viewer.") var role: String
        @Option(help: "Their name (default: the part of the email before @).") var name: String?
        @Option(help: "Their first password (or SLIPWAY_NEW_PASSWORD).") var password: String?

        func run() async throws {
            guard let secret = password ?? ProcessInfo.processInfo.environment["SLIPWAY_NEW_PASSWORD"] else {
                throw CLIError.usage("pass --password or set SLIPWAY_NEW_PASSWORD")
            }
            let id = try await options.client().createUser(CreateUserRequest(email: email, password: secret, role: role, name: name))
            try Output.emit(options, ["id": id]) { id }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the users.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let users = try await options.client().listUsers().users
            try Output.emit(options, users) {
                Output.table(
                    ["ID", "EMAIL", "ROLE", "STATE"],
                    users.map { [$0.id, $0.email, $0.role, $0.disabled == true ? "disabled" : $0.mustChangePassword == true ? "must change password" : "active"] })
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a user's role, or disable or enable them (admins); their sessions end at once.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The user id (u-…).") var id: String
        @Option(help: "admin, editor or viewer.") var role: String?
        @Flag(help: "Refuse their next request and every sign-in.") var disable = false
        @Flag(help: "Let a disabled user sign in again.") var enable = false

        func validate() throws {
            guard !(disable && enable) else { throw ValidationError("--disable and --enable exclude each other") }
            guard role != nil || disable || enable else { throw ValidationError("say what to change: --role, --disable or --enable") }
        }

        func run() async throws {
            let user = try await options.client().updateUser(
                id: id, UpdateUserRequest(role: role, disabled: disable ? true : enable ? false : nil))
            try Output.emit(options, user) { "Updated \(user.id): \(user.role)\(user.disabled == true ? ", disabled" : "")." }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user (admins; never the last admin).")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The user id (u-…).") var id: String

        func run() async throws {
            try await options.client().deleteUser(id: id)
            try Output.deleted(id, options)
        }
    }

    struct Password: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change your own password; your other sessions end, and the stored credentials move to the new session.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            let current = environment["SLIPWAY_PASSWORD"] ?? Self.prompt("Current password: ")
            let new = environment["SLIPWAY_NEW_PASSWORD"] ?? Self.prompt("New password: ")
            let session = try await options.client().changePassword(current: current, new: new)
            if var stored = try StoredCredentials.load(), options.token == nil, environment["SLIPWAY_TOKEN"] == nil {
                stored.token = session.jwtToken
                stored.refreshToken = session.refreshToken
                try stored.save()
            }
            try Output.emit(options, ["changed": true]) { "Password changed; other sessions have ended." }
        }

        /// A password from the terminal without echo, or a line of standard input when it is not a terminal.
        static func prompt(_ text: String) -> String {
            guard isatty(STDIN_FILENO) != 0 else { return readLine(strippingNewline: true) ?? "" }
            return getpass(text).map { String(cString: $0) } ?? ""
        }
    }
}

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", abstract: "Who did what (admins).", subcommands: [List.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Audit records, newest first.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "A user id or email.") var actor: String?
        @Option(help: "An action (image-config.update), or a prefix ending in '.' (rollout.).") var action: String?
        @Option(help: "An id the record names (s-…, imgc-…, u-…).") var target: String?
        @Option(help: "From this time on (RFC 3339).") var since: String?
        @Option(help: "Before this time (RFC 3339).") var until: String?
        @Option(help: "At most this many records.") var limit = 100

        func run() async throws {
            let client = try await options.client()
            var records: [AuditRecordResult] = []
            var token: String?
            repeat {
                let page = try await client.listAuditRecords(
                    actor: actor, action: action, target: target, since: since, until: until, pageSize: min(limit - records.count, 500),
                    nextPageToken: token)
                records += page.records
                token = page.nextPageToken
            } while token != nil && records.count < limit
            try Output.emit(options, records) {
                Output.table(
                    ["TIME", "ACTOR", "ACTION", "STATUS", "TARGETS", "CHANGES"],
                    records.map { record in
                        [
                            record.at, record.actorEmail ?? record.actorId ?? record.actorType, record.action, String(record.status),
                            record.targets.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "),
                            (record.changes ?? [:]).sorted { $0.key < $1.key }
                                .map { "\($0.key): \($0.value.before ?? "-") → \($0.value.after ?? "-")" }.joined(separator: "; "),
                        ]
                    })
            }
        }
    }
}
