import Foundation
import SlipwayTestSupport
import Testing

/// slipwayd on a PostgreSQL that takes TLS connections only (`scripts/postgres.sh tls`): the URL's
/// `sslmode` and `sslrootcert` decide whether it connects, and each refusal says why.
@Suite("PostgreSQL over TLS", .timeLimit(.minutes(3)))
struct PostgresTLSTests {
    @Test func sslmodeDecidesAndEachRefusalSaysWhy() async throws {
        let cluster = try await TestPostgres.startCluster()
        defer { TestPostgres.stopClusterInBackground(cluster.directory) }
        // Before TLS: a URL that requires it is refused.
        let (plainStatus, plain) = try await ServerProcess.run(["--port", "0", "--database", cluster.url + "?sslmode=require"])
        #expect(plainStatus == 78)
        #expect(plain.contains("it does not take TLS connections, which this sslmode requires"), "\(plain)")

        let ca = try await TestPostgres.enableTLS(cluster.directory)
        let refusals: [(query: String, message: String)] = [
            ("sslmode=disable", "pg_hba.conf rejects connection"),
            ("sslmode=verify-full", "its TLS certificate is not trusted: set sslrootcert to the PEM file of the CA that signed it"),
            ("sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
                "sslrootcert '/nonexistent/ca.pem' cannot be read; name a PEM file of the CA that signed PostgreSQL's certificate"),
        ]
        for (query, message) in refusals {
            let (status, text) = try await ServerProcess.run(["--port", "0", "--database", cluster.url + "?" + query])
            #expect(status == 78, "\(query): \(text)")
            #expect(text.contains(message), "\(query): \(text)")
        }
        // Encrypted without checking, and encrypted with the server's certificate checked: both serve.
        for query in ["sslmode=require", "sslmode=verify-full&sslrootcert=\(ca)", "sslmode=verify-ca&sslrootcert=\(ca)"] {
            let server = try await ServerProcess(database: cluster.url + "?" + query)
            let api = try await server.api.signIn()
            #expect(try await api.call(.get, "/2022-09-01-00/service").status == .ok, "\(query)")
            await server.kill(SIGTERM)
            #expect(server.process.terminationStatus == 0, "\(query): \(server.log.suffix(2000))")
        }
    }
}
