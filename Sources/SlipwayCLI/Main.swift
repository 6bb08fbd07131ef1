import ArgumentParser
import Foundation
import Slipway

/// `slipway`: the command line for people and pipelines.
struct SlipwayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slipway",
        abstract: "Ship container images to a fleet with Slipway: image configs, releases, rollouts.",
        discussion: """
            Sign in once with `slipway login`; SLIPWAY_URL and SLIPWAY_TOKEN (or --url and --token) override the stored credentials.

            Exit status: 0 success, 1 the server refused or could not be reached (its message is printed), 2 a usage error, \
            3 a watched rollout FAILED, 4 a watched rollout was CANCELLED.
            """,
        subcommands: [
            Login.self, Logout.self, ServiceCommand.self, EnvironmentCommand.self, ProductTierCommand.self, RegistryCommand.self,
            ImageConfigCommand.self, VersionSetCommand.self, InstanceCommand.self, RolloutCommand.self, WebhookCommand.self, UserCommand.self,
            AuditCommand.self,
        ])
}

/// A failure of the CLI itself, with the exit status it calls for.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    var exitCode: Int32

    static func usage(_ message: String) -> CLIError { CLIError(description: message, exitCode: 2) }
    static func failure(_ message: String) -> CLIError { CLIError(description: message, exitCode: 1) }
}

@main
enum Main {
    static func main() async {
        do {
            var command = try SlipwayCommand.parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as SlipwayClientError {
            standardError("error: \(error.message)" + (error.id.map { " (error id \($0))" } ?? ""))
            exit(1)
        } catch let error as CLIError {
            standardError("error: \(error.description)")
            exit(error.exitCode)
        } catch let error as ExitCode {
            exit(error.rawValue)
        } catch {
            let code = SlipwayCommand.exitCode(for: error)
            let message = SlipwayCommand.fullMessage(for: error)
            if code == .success {
                print(message)
                exit(0)
            }
            standardError(message)
            exit(code == .validationFailure ? 2 : code.rawValue)
        }
    }
}

func standardError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
