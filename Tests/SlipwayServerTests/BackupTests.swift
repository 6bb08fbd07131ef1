import Foundation
import SlipwayStorage
import SlipwayWire
import Testing

@Suite("Backups of a SQLite database: slipwayd backup and verify-backup")
struct BackupTests {
    /// A backup taken while the server serves a writer holds every write answered before it began; it
    /// passes verify-backup, and a slipwayd started on it serves those writes.
    @Test func aBackupWhileServingHoldsEveryAnsweredWrite() async throws {
        let database = temporarySQLiteFile()
        let server = try await ServerProcess(database: database)
        defer { if server.process.isRunning { server.killInBackground(SIGTERM) } }
        let api = try await server.api.signIn()

        let answered = AnsweredWrites()
        let writer = Task {
            var index = 0
            while await !answered.stopped {
                let id = try await api.create("/2022-09-01-00/service", CreateServiceRequest(name: "svc-\(index)"))
                await answered.append(id)
                index += 1
            }
        }
        try await eventually("the writer is under way") { await answered.ids.count >= 20 }
        let before = await answered.ids
        let copy = temporarySQLiteFile()
        let (status, text) = try await ServerProcess.run(["backup", "--database", database, "--to", copy])
        let duringBackup = await answered.ids.count - before.count
        await answered.stop()
        try await writer.value

        #expect(status == 0, "\(text)")
        #expect(text.contains("backed up \(database) to \(copy): "), "\(text)")
        #expect(text.contains("schema: \(SQLiteBackup.latestMigration), the latest this slipwayd knows"), "\(text)")
        #expect(text.contains("keep \(database).key with this backup: it seals registry passwords and is not in the database"), "\(text)")
        #expect(text.contains("keep \(database).jwt-keys with this backup: it signs access tokens and is not in the database"), "\(text)")
        let servicesLine = text.split(separator: "\n").first { $0.hasPrefix("services: ") }
        let copied = try #require(servicesLine.flatMap { Int($0.dropFirst("services: ".count).prefix { $0.isNumber }) }, "\(text)")
        #expect(copied >= before.count)
        print("backup: \(before.count) services answered before it began, \(copied) in the copy, \(duringBackup) answered while it ran")
        // Nothing left beside the copy: the temporary file was renamed, not copied.
        let directory = URL(fileURLWithPath: copy).deletingLastPathComponent().path
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["slipway.sqlite"])
        #expect(try fileMode(copy) == 0o600)

        let (verified, report) = try await ServerProcess.run(["verify-backup", copy])
        #expect(verified == 0, "\(report)")
        #expect(report.contains("\(copy): "), "\(report)")
        #expect(report.contains("integrity ok, foreign keys ok"), "\(report)")
        #expect(report.contains("services: \(copied) rows"), "\(report)")
        #expect(report.contains("\(copy) is a good backup"), "\(report)")

        // Restored with the key files kept beside it, as the backup said: the session goes on working on the copy.
        for suffix in [".key", ".jwt-keys"] { try FileManager.default.copyItem(atPath: database + suffix, toPath: copy + suffix) }
        let restored = try await ServerProcess(database: copy)
        defer { if restored.process.isRunning { restored.killInBackground(SIGTERM) } }
        let list = try await restored.api.as_(api.token).call(.get, "/2022-09-01-00/service?pageSize=1000")
        #expect(list.status == .ok, "\(list.body)")
        let ids = Set(try list.decode(ListServicesResult.self).services.map(\.id))
        #expect(ids.count == copied)
        #expect(before.allSatisfy(ids.contains), "every write answered before the backup began is in the copy")
        // The original server never stopped serving.
        #expect(try await api.call(.get, "/2022-09-01-00/service/\(before[0])").status == .ok)
        await restored.kill(SIGTERM)
        await server.kill(SIGTERM)
    }

    /// With no server on the file the backup works the same, and a server starts on the database afterwards.
    @Test func aBackupOfAStoppedDatabase() async throws {
        let database = temporarySQLiteFile()
        let server = try await ServerProcess(database: database)
        let api = try await server.api.signIn()
        let service = try await api.create("/2022-09-01-00/service", CreateServiceRequest(name: "stopped"))
        await server.kill(SIGTERM)

        let copy = temporarySQLiteFile()
        let (status, text) = try await ServerProcess.run(["backup", "--database", database, "--to", copy])
        #expect(status == 0, "\(text)")
        #expect(text.contains("services: 1 rows"), "\(text)")
        #expect(try await ServerProcess.run(["verify-backup", copy]).status == 0)

        let again = try await ServerProcess(database: database)
        defer { if again.process.isRunning { again.killInBackground(SIGTERM) } }
        #expect(try await again.api.as_(api.token).call(.get, "/2022-09-01-00/service/\(service)").status == .ok)
        await again.kill(SIGTERM)
    }

    @Test func backupRefusesWhatItCannotCopy() async throws {
        let missing = temporarySQLiteFile()
        let target = temporarySQLiteFile()
        var (status, text) = try await ServerProcess.run(["backup", "--database", missing, "--to", target])
        #expect(status == 78)
        #expect(text == "slipwayd backup: there is no SQLite database at \(missing)\n")
        #expect(!FileManager.default.fileExists(atPath: target))

        (status, text) = try await ServerProcess.run(["backup", "--database", "postgres://slipway:secret@127.0.0.1:5432/slipway", "--to", target])
        #expect(status == 78)
        #expect(
            text == "slipwayd backup: postgres://slipway:xxxxx@127.0.0.1:5432/slipway is a PostgreSQL database; slipwayd backup copies "
                + "SQLite files. For PostgreSQL use pg_dump -Fc (see Backups in the README)\n")
        #expect(!text.contains("secret"), "the password is never shown")

        let database = temporarySQLiteFile()
        let server = try await ServerProcess(database: database)
        defer { if server.process.isRunning { server.killInBackground(SIGTERM) } }
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: target))
        (status, text) = try await ServerProcess.run(["backup", "--database", database, "--to", target])
        #expect(status == 78)
        #expect(text == "slipwayd backup: \(target) already exists; a backup never overwrites a file: name a new one, or move that one away\n")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep me")
        let directory = URL(fileURLWithPath: target).deletingLastPathComponent().path
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["slipway.sqlite"])
        await server.kill(SIGTERM)
    }

    @Test func verifyBackupRefusesAMissingFileAndOneThatIsNotSQLite() async throws {
        let missing = temporarySQLiteFile()
        var (status, text) = try await ServerProcess.run(["verify-backup", missing])
        #expect(status == 1)
        #expect(text == "slipwayd verify-backup: there is no file at \(missing)\n")

        let noise = temporarySQLiteFile()
        var generator = SystemRandomNumberGenerator()
        try Data((0..<65536).map { _ in UInt8.random(in: 0...255, using: &generator) }).write(to: URL(fileURLWithPath: noise))
        (status, text) = try await ServerProcess.run(["verify-backup", noise])
        #expect(status == 1)
        #expect(text == "slipwayd verify-backup: \(noise) is not a SQLite database (file is not a database)\n")
    }

    /// A copy with a page in its middle flipped, and one with a row that no longer matches its index:
    /// verify-backup says each is damaged.
    @Test func verifyBackupRefusesADamagedCopy() async throws {
        let database = temporarySQLiteFile()
        let server = try await ServerProcess(database: database)
        defer { if server.process.isRunning { server.killInBackground(SIGTERM) } }
        let api = try await server.api.signIn()
        for index in 0..<200 {
            _ = try await api.create("/2022-09-01-00/service", CreateServiceRequest(name: "svc-\(index)", description: String(repeating: "x", count: 200)))
        }
        let backup = temporarySQLiteFile()
        let made = try await ServerProcess.run(["backup", "--database", database, "--to", backup])
        #expect(made.status == 0, "\(made.output)")
        #expect(try await ServerProcess.run(["verify-backup", backup]).status == 0)

        var bytes = try Data(contentsOf: URL(fileURLWithPath: backup))
        let pageSize = Int(bytes[16]) << 8 | Int(bytes[17])
        let pages = bytes.count / pageSize
        #expect(pages > 10)
        let middle = pages / 2 * pageSize
        for offset in middle..<(middle + pageSize) { bytes[offset] ^= 0xFF }
        let damaged = temporarySQLiteFile()
        try bytes.write(to: URL(fileURLWithPath: damaged))

        var (status, text) = try await ServerProcess.run(["verify-backup", damaged])
        #expect(status == 1)
        // SQLite refuses the page when it reads it, or integrity_check lists what it found.
        #expect(
            text == "slipwayd verify-backup: \(damaged) is damaged: database disk image is malformed\n"
                || text.hasPrefix("slipwayd verify-backup: \(damaged) is damaged: integrity_check found "),
            "\(text)")
        #expect(text.split(separator: "\n").count == 1, "\(text)")

        // A name changed in a row of services but not in its index: readable, and integrity_check says so.
        bytes = try Data(contentsOf: URL(fileURLWithPath: backup))
        let name = try #require(bytes.range(of: Data("svc-17".utf8)))
        bytes[name.lowerBound + 4] = UInt8(ascii: "X")
        let inconsistent = temporarySQLiteFile()
        try bytes.write(to: URL(fileURLWithPath: inconsistent))
        (status, text) = try await ServerProcess.run(["verify-backup", inconsistent])
        #expect(status == 1)
        #expect(text.hasPrefix("slipwayd verify-backup: \(inconsistent) is damaged: integrity_check found "), "\(text)")
        #expect(text.contains(" missing from index ") || text.contains("out of order") || text.contains("wrong # of entries"), "\(text)")
        await server.kill(SIGTERM)
    }
}

/// The ids the server answered, in order, and whether the writer should stop.
private actor AnsweredWrites {
    var ids: [String] = []
    var stopped = false
    func append(_ id: String) { ids.append(id) }
    func stop() { stopped = true }
}

/// The permission bits of a file.
private func fileMode(_ path: String) throws -> Int {
    try (FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
}
