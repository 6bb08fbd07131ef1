import Foundation
import Synchronization

/// One entry of the audit log: who did what to which, when, and how it ended.
public struct AuditRecord: Sendable, Equatable {
    public var at: Date
    public var organizationId: String
    /// `user` or `agent`.
    public var actorType: String
    public var actorId: String?
    public var actorEmail: String?
    /// `image-config.update`, `rollout.pause`, `user.disable`, …
    public var action: String
    /// The ids the request named or created, by kind: `serviceId`, `imageConfigId`, …
    public var targets: [String: String]
    /// The HTTP status the request answered.
    public var status: Int
    /// The error id the caller got, for a refused request.
    public var errorId: String?
    public var clientAddress: String?
    /// For updates: field → before and after (secrets only say that they changed).
    public var changes: [String: AuditChange]

    public init(
        at: Date, organizationId: String, actorType: String, actorId: String?, actorEmail: String?, action: String,
        targets: [String: String] = [:], status: Int = 200, errorId: String? = nil, clientAddress: String? = nil,
        changes: [String: AuditChange] = [:]
    ) {
        self.at = at
        self.organizationId = organizationId
        self.actorType = actorType
        self.actorId = actorId
        self.actorEmail = actorEmail
        self.action = action
        self.targets = targets
        self.status = status
        self.errorId = errorId
        self.clientAddress = clientAddress
        self.changes = changes
    }
}

/// A field's value before and after an update.
public struct AuditChange: Codable, Sendable, Equatable {
    public var before: String?
    public var after: String?

    public init(before: String?, after: String?) {
        self.before = before
        self.after = after
    }

    /// What the log says of a secret: that it changed, never its value.
    public static let secretChanged = AuditChange(before: "(secret)", after: "(changed)")
}

/// The audit record of the request in progress. The store writes it in the same transaction as the
/// request's first write (so a change is never without its record, nor a record without its change); what
/// the request learns on the way (ids it creates, fields it changes) is added before that.
public final class AuditTrail: Sendable {
    @TaskLocal public static var current: AuditTrail?

    private struct State {
        var record: AuditRecord
        var committed = false
    }

    private let state: Mutex<State>

    public init(_ record: AuditRecord) {
        state = Mutex(State(record: record))
    }

    public var record: AuditRecord { state.withLock { $0.record } }
    /// Whether a transaction carrying the record has committed.
    public var isCommitted: Bool { state.withLock { $0.committed } }

    public func setActor(organizationId: String, actorId: String, email: String) {
        state.withLock {
            $0.record.organizationId = organizationId
            $0.record.actorId = actorId
            $0.record.actorEmail = email
        }
    }

    public func setAction(_ action: String) { state.withLock { $0.record.action = action } }

    public func target(_ key: String, _ id: String) { state.withLock { $0.record.targets[key] = id } }

    public func changed(_ field: String, _ change: AuditChange) { state.withLock { $0.record.changes[field] = change } }

    /// The record to write in a transaction now running, unless one already committed it (or the actor is
    /// not known yet). A transaction that is retried gets it again.
    public func recordForTransaction() -> AuditRecord? {
        state.withLock { $0.committed || $0.record.organizationId.isEmpty ? nil : $0.record }
    }

    /// The transaction that carried the record committed.
    public func markCommitted() { state.withLock { $0.committed = true } }

    /// Notes a field of an update when it changed.
    public func compare(_ field: String, _ before: String?, _ after: String?) {
        if before != after { changed(field, AuditChange(before: before, after: after)) }
    }
}
