import Foundation
import Logging
import SlipwayCore
import SlipwayStorage

/// Finds the key that seals secrets at rest: `SLIPWAY_SECRET_KEY`, else the key file (`--secret-key-file`,
/// by default beside a SQLite database), created with mode 0600 on first start. PostgreSQL replicas must all
/// use one key, so there the key must be given.
enum SecretKeyLoader {
    static func load(_ configuration: ServerConfiguration, logger: Logger) throws -> SecretBox {
        if let text = configuration.secretKey {
            do { return try SecretBox(keyText: text) } catch let error as SecretBoxError {
                throw ConfigurationError("SLIPWAY_SECRET_KEY is not usable: \(error.description)")
            }
        }
        let path: String
        if let file = configuration.secretKeyFile {
            path = file
        } else if PostgresOptions.isPostgresURL(configuration.database) {
            throw ConfigurationError(
                "with PostgreSQL, give the key that seals registry passwords (the same on every replica): set SLIPWAY_SECRET_KEY "
                    + "(32 random bytes as base64, e.g. from `openssl rand -base64 32`) or pass --secret-key-file FILE")
        } else {
            path = configuration.database + ".key"
        }
        return try readOrCreate(path, logger: logger)
    }

    private static func readOrCreate(_ path: String, logger: Logger) throws -> SecretBox {
        if FileManager.default.fileExists(atPath: path) {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ConfigurationError("cannot read the secret key file \(path): check its owner and mode")
            }
            if let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int, mode & 0o077 != 0 {
                logger.warning(
                    "the secret key file \(path) is readable by other users (mode \(String(mode, radix: 8))); chmod 600 it")
            }
            do { return try SecretBox(keyText: String(decoding: data, as: UTF8.self)) } catch let error as SecretBoxError {
                throw ConfigurationError("the secret key file \(path) is not usable: \(error.description)")
            }
        }
        let text = SecretBox.generateKeyText()
        // O_EXCL: two servers starting at once must not each write a key of their own.
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            if errno == EEXIST { return try readOrCreate(path, logger: logger) }
            throw ConfigurationError("cannot create the secret key file \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        let bytes = Array((text + "\n").utf8)
        guard write(descriptor, bytes, bytes.count) == bytes.count, fsync(descriptor) == 0 else {
            unlink(path)
            throw ConfigurationError("cannot write the secret key file \(path): \(String(cString: strerror(errno)))")
        }
        logger.notice("created the secret key file \(path) (mode 0600): back it up with the database; registry passwords need it")
        return try SecretBox(keyText: text)
    }
}
