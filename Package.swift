// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Slipway",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "slipwayd", targets: ["slipwayd"]),
        .executable(name: "slipway-agent", targets: ["slipway-agent"]),
        .library(name: "Slipway", targets: ["Slipway"]),
        .executable(name: "slipway", targets: ["SlipwayCLI"]),
        .executable(name: "slipway-bench", targets: ["slipway-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.0"),
    ],
    targets: [
        // Wire types of the API, shared by the server and the SDK.
        .target(name: "SlipwayWire"),
        // The domain: models, validation, release planning, the storage protocol.
        .target(
            name: "SlipwayCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
            ]
        ),
        // Storage: one store over SQL, on the embedded SQLite file or on PostgreSQL.
        .target(
            name: "SlipwayStorage",
            dependencies: [
                "SlipwayCore", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The OCI registry client: resolves tags to digests (Docker token flow) and verifies cosign signatures.
        .target(
            name: "SlipwayRegistry",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
            ]
        ),
        // The rollout engine: drives rollouts from what the store says, and wakes long-polling agents.
        .target(
            name: "SlipwayEngine",
            dependencies: [
                "SlipwayCore",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HeapModule", package: "swift-collections"),
            ]
        ),
        // The HTTP API layer: routes, auth, errors.
        .target(
            name: "SlipwayServer",
            dependencies: [
                "SlipwayCore", "SlipwayStorage", "SlipwayWire", "SlipwayEngine", "SlipwayRegistry",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            resources: [.copy("OpenAPI/openapi.yaml"), .copy("Console/ui")]
        ),
        .executableTarget(
            name: "slipwayd",
            dependencies: [
                "SlipwayServer", "SlipwayCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        // The Swift SDK: a typed async client of every operation.
        .target(
            name: "Slipway",
            dependencies: [
                "SlipwayWire",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ]
        ),
        // The `slipway` command line, on the SDK.
        .executableTarget(
            name: "SlipwayCLI",
            dependencies: [
                "Slipway", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        // The load tool of scripts/bench.sh.
        .executableTarget(
            name: "slipway-bench",
            dependencies: [
                "Slipway",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                "SlipwayStorage",
            ]
        ),
        // The reference data-plane agent.
        .executableTarget(
            name: "slipway-agent",
            dependencies: [
                "Slipway", "SlipwayRegistry", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        // What the test targets share: the PostgreSQL cluster scripts/test.sh starts, and fresh databases on it.
        .target(name: "SlipwayTestSupport", path: "Tests/SlipwayTestSupport"),
        // What registry tests share: the registries scripts/test.sh starts, pushing synthetic images, signing them as cosign does.
        .target(
            name: "RegistryTestSupport",
            dependencies: [
                "SlipwayRegistry",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Tests/RegistryTestSupport"
        ),
        // The registry client against real registries (anonymous, basic auth, the token flow) and cosign's formats.
        .testTarget(
            name: "SlipwayRegistryTests",
            dependencies: [
                "SlipwayRegistry", "RegistryTestSupport", "SlipwayTestSupport",
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The rules, without I/O: runs in seconds.
        .testTarget(name: "SlipwayCoreTests", dependencies: ["SlipwayCore"]),
        // The stores against real database files: the conformance suite and generated rollout histories.
        .testTarget(
            name: "SlipwayStorageTests",
            dependencies: [
                "SlipwayCore", "SlipwayStorage", "SlipwayTestSupport", .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // The server over HTTP, and the binaries as processes.
        .testTarget(
            name: "SlipwayServerTests",
            dependencies: [
                "SlipwayServer", "SlipwayCore", "SlipwayWire", "SlipwayStorage", "SlipwayEngine", "Slipway", "SlipwayCLI", "slipwayd", "slipway-agent",
                "SlipwayTestSupport", "SlipwayRegistry", "RegistryTestSupport",
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
    ]
)
