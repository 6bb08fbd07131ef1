/// Random identifiers: resource ids (`imgc-…`), error ids and secrets.
public enum Identifiers {
    private static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

    /// A new id such as `imgc-3f9aK2mQx7Lp`: the kind's prefix and 12 base-62 characters (71 bits). A
    /// resource made while a request runs is a target of that request's audit record.
    public static func new(_ kind: ResourceKind) -> String {
        let id = "\(kind.prefix)-\(random(length: 12))"
        AuditTrail.current?.target(kind.auditKey, id)
        return id
    }

    /// A random base-62 string from the system's cryptographically secure generator.
    public static func random(length: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in alphabet[Int(generator.next(upperBound: UInt32(alphabet.count)))] })
    }

    /// `count` random bytes from the system's cryptographically secure generator.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }
}
