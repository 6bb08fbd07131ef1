import Foundation
import Logging
import PostgresNIO

/// The PostgreSQL schema, as versioned migrations applied in order, each in its own transaction. The
/// tables match SQLite's after all of its migrations, so the store's queries run unchanged on both. Never
/// edit a shipped migration: add a new one.
enum PostgresMigrations {
    static let all: [(id: String, sql: String)] = [
        ("v1-schema", v1Schema), ("v2-replicas", v2Replicas), ("v3-one-change-channel", v3OneChangeChannel),
        ("v4-image-digests", v4ImageDigests), ("v5-accounts-and-audit", v5AccountsAndAudit),
        ("v6-hardening", v6Hardening), ("v7-rollout-order-by-wave", v7RolloutOrderByWave),
        ("v8-targeting-and-gates", v8TargetingAndGates),
    ]

    /// Instances carry labels for a rollout's selector; a rollout remembers its canary gate, when it was
    /// promoted, and when it was paused (its pause times out).
    static let v8TargetingAndGates = """
        ALTER TABLE instances ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE rollouts ADD COLUMN gate_after_wave BIGINT;
        ALTER TABLE rollouts ADD COLUMN promoted_at DOUBLE PRECISION;
        ALTER TABLE rollouts ADD COLUMN paused_at DOUBLE PRECISION;
        """

    /// A sliding window takes the next few pending rows of its wave in plan order, many times a rollout.
    static let v7RolloutOrderByWave = """
        DROP INDEX rollout_instances_by_wave;
        CREATE INDEX rollout_instances_by_wave ON rollout_instances(rollout_id, wave, status, seq);
        """

    /// The key that signs access tokens lives outside the database now (a copy of the database alone signs nothing);
    /// instances are counted per organization (its quota).
    static let v6Hardening = """
        DELETE FROM settings WHERE key = 'jwt_secret';
        CREATE INDEX instances_by_organization ON instances(organization_id);
        """

    /// Applies what is missing. Replicas starting together take turns on an advisory lock; a database that
    /// has migrations this binary does not know (written by a newer Slipway) is refused.
    static func migrate(_ connection: PostgresConnection, logger: Logger, displayName: String) async throws {
        try await connection.query("SELECT pg_advisory_lock(7351625)", logger: logger)
        do {
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS slipway_migrations (id TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                logger: logger)
            var applied: [String] = []
            for try await id in try await connection.query("SELECT id FROM slipway_migrations ORDER BY applied_at, id", logger: logger)
                .decode(String.self)
            {
                applied.append(id)
            }
            let known = Set(all.map(\.id))
            let unknown = applied.filter { !known.contains($0) }
            guard unknown.isEmpty else {
                throw StoreOpeningError(
                    "the PostgreSQL database \(displayName) has schema migrations this slipwayd does not know (\(unknown.joined(separator: ", "))): "
                        + "a newer Slipway wrote it; run that version or newer (this one knows up to \(all.last!.id))")
            }
            for migration in all where !applied.contains(migration.id) {
                try await connection.query("BEGIN", logger: logger)
                do {
                    for statement in statements(migration.sql) {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query("INSERT INTO slipway_migrations (id) VALUES (\(migration.id))", logger: logger)
                    try await connection.query("COMMIT", logger: logger)
                    logger.info("applied PostgreSQL migration", metadata: ["migration": "\(migration.id)"])
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(7351625)", logger: logger)
            throw error
        }
        try await connection.query("SELECT pg_advisory_unlock(7351625)", logger: logger)
    }

    /// A migration's statements, one by one (the extended protocol takes one at a time): split at each
    /// line-ending semicolon outside a `$$` function body.
    static func statements(_ sql: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var inBody = false
        for line in sql.split(separator: "\n", omittingEmptySubsequences: false) {
            current += line + "\n"
            if line.components(separatedBy: "$$").count % 2 == 0 { inBody.toggle() }
            if !inBody && line.trimmingCharacters(in: .whitespaces).hasSuffix(";") {
                statements.append(current.trimmingCharacters(in: .whitespacesAndNewlines))
                current = ""
            }
        }
        let rest = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !rest.isEmpty { statements.append(rest) }
        return statements
    }

    static let v1Schema = """
        CREATE COLLATION slipway_nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE organizations (
            seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE users (
            seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            organization_id TEXT NOT NULL REFERENCES organizations(id),
            email TEXT COLLATE slipway_nocase NOT NULL UNIQUE,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL
        );
        CREATE INDEX users_by_organization ON users(organization_id, seq);
        CREATE TABLE refresh_tokens (
            token_hash TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            expires_at TIMESTAMPTZ NOT NULL
        );
        CREATE INDEX refresh_tokens_by_user ON refresh_tokens(user_id);
        CREATE TABLE services (
            seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            organization_id TEXT NOT NULL REFERENCES organizations(id),
            name TEXT NOT NULL,
            description TEXT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            UNIQUE (organization_id, name)
        );
        CREATE TABLE service_environments (
            seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            service_id TEXT NOT NULL REFERENCES services(id),
            name TEXT NOT NULL,
            description TEXT NOT NULL,
            type TEXT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            UNIQUE (service_id, name)
        );
        CREATE TABLE product_tiers (
            seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            service_id TEXT NOT NULL REFERENCES services(id),
            service_environment_id TEXT NOT NULL REFERENCES service_environments(id),
            name TEXT NOT NULL,
            description TEXT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            UNIQUE (service_environment_id, name)
        );
        CREATE INDEX product_tiers_by_service ON product_tiers(service_id, seq);
        CREATE TABLE image_registries (
            seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            organization_id TEXT NOT NULL REFERENCES organizations(id),
            name TEXT NOT NULL,
            host TEXT NOT NULL,
            username TEXT,
            password TEXT,
            is_default BOOLEAN NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            UNIQUE (organization_id, name)
        );
        CREATE TABLE image_configs (
            seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            service_id TEXT NOT NULL REFERENCES services(id),
            service_environment_id TEXT NOT NULL REFERENCES service_environments(id),
            image_registry_id TEXT NOT NULL REFERENCES image_registries(id),
            description TEXT NOT NULL,
            image_name TEXT NOT NULL,
            image_tag TEXT NOT NULL,
            public_key_pem TEXT,
            commands TEXT,
            args TEXT,
            revision BIGINT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL
        );
        CREATE INDEX image_configs_by_environment ON image_configs(service_environment_id, seq);
        CREATE INDEX image_configs_by_registry ON image_configs(image_registry_id);
        CREATE TABLE tier_versions (
            seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            product_tier_id TEXT NOT NULL REFERENCES product_tiers(id) ON DELETE CASCADE,
            sequence BIGINT NOT NULL,
            version TEXT NOT NULL,
            status TEXT NOT NULL,
            released_at TIMESTAMPTZ NOT NULL,
            released_by TEXT NOT NULL,
            UNIQUE (product_tier_id, sequence),
            UNIQUE (product_tier_id, version)
        );
        CREATE TABLE tier_version_images (
            tier_version_seq BIGINT NOT NULL REFERENCES tier_versions(seq) ON DELETE CASCADE,
            image_config_id TEXT NOT NULL REFERENCES image_configs(id),
            revision BIGINT NOT NULL,
            description TEXT NOT NULL,
            image_name TEXT NOT NULL,
            image_tag TEXT NOT NULL,
            image_registry_id TEXT NOT NULL,
            registry_host TEXT NOT NULL,
            public_key_pem TEXT,
            commands TEXT,
            args TEXT,
            PRIMARY KEY (tier_version_seq, image_config_id)
        );
        CREATE INDEX tier_version_images_by_config ON tier_version_images(image_config_id);
        CREATE TABLE instances (
            seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            organization_id TEXT NOT NULL REFERENCES organizations(id),
            service_id TEXT NOT NULL REFERENCES services(id),
            service_environment_id TEXT NOT NULL REFERENCES service_environments(id),
            product_tier_id TEXT NOT NULL REFERENCES product_tiers(id),
            name TEXT NOT NULL,
            agent_token_hash TEXT NOT NULL UNIQUE,
            current_version TEXT NOT NULL,
            desired_version TEXT NOT NULL,
            desired_generation BIGINT NOT NULL,
            reported_generation BIGINT,
            last_report_status TEXT,
            last_report_message TEXT,
            last_report_at TIMESTAMPTZ,
            health TEXT,
            created_at TIMESTAMPTZ NOT NULL,
            UNIQUE (service_environment_id, name)
        );
        CREATE INDEX instances_by_environment ON instances(service_environment_id, seq);
        CREATE INDEX instances_by_tier ON instances(product_tier_id);
        CREATE TABLE rollouts (
            seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            organization_id TEXT NOT NULL REFERENCES organizations(id),
            service_id TEXT NOT NULL REFERENCES services(id),
            service_environment_id TEXT NOT NULL REFERENCES service_environments(id),
            image_config_id TEXT NOT NULL REFERENCES image_configs(id) ON DELETE CASCADE,
            status TEXT NOT NULL,
            policy TEXT NOT NULL,
            total BIGINT NOT NULL,
            pending BIGINT NOT NULL,
            in_progress BIGINT NOT NULL DEFAULT 0,
            completed BIGINT NOT NULL DEFAULT 0,
            failed BIGINT NOT NULL DEFAULT 0,
            skipped BIGINT NOT NULL DEFAULT 0,
            rolling_back BIGINT NOT NULL DEFAULT 0,
            rolled_back BIGINT NOT NULL DEFAULT 0,
            rollback_failed BIGINT NOT NULL DEFAULT 0,
            current_wave BIGINT NOT NULL,
            total_waves BIGINT NOT NULL,
            bake_until DOUBLE PRECISION,
            rollback TEXT NOT NULL,
            source_versions TEXT NOT NULL,
            target_versions TEXT NOT NULL,
            message TEXT NOT NULL,
            note TEXT,
            created_by TEXT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            started_at TIMESTAMPTZ,
            updated_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ,
            completed_seconds DOUBLE PRECISION NOT NULL DEFAULT 0
        );
        CREATE INDEX rollouts_by_config ON rollouts(image_config_id, seq);
        CREATE INDEX rollouts_by_status ON rollouts(status, rollback);
        CREATE TABLE rollout_instances (
            rollout_id TEXT NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
            instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
            seq BIGINT NOT NULL,
            wave BIGINT NOT NULL,
            source_version TEXT NOT NULL,
            target_version TEXT NOT NULL,
            status TEXT NOT NULL,
            started_at DOUBLE PRECISION,
            ended_at DOUBLE PRECISION,
            deadline DOUBLE PRECISION,
            reason TEXT,
            outcome TEXT,
            PRIMARY KEY (rollout_id, instance_id)
        );
        CREATE UNIQUE INDEX rollout_instances_order ON rollout_instances(rollout_id, seq);
        CREATE INDEX rollout_instances_by_wave ON rollout_instances(rollout_id, wave, status);
        CREATE INDEX rollout_instances_by_instance ON rollout_instances(instance_id, status);
        CREATE INDEX rollout_instances_by_deadline ON rollout_instances(deadline) WHERE deadline IS NOT NULL;
        """

    /// What several replicas need: notifications that keep each replica's caches and long-polls current
    /// (sent by triggers, so every writer's changes are seen), and the lease that picks the one replica
    /// that drives rollouts.
    static let v2Replicas = """
        CREATE FUNCTION slipway_notify_instance() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                PERFORM pg_notify('slipway_instances', 'deleted ' || OLD.seq || ' ' || OLD.id);
            ELSIF NEW.desired_generation IS DISTINCT FROM OLD.desired_generation THEN
                PERFORM pg_notify('slipway_instances', 'changed ' || NEW.seq || ' ' || NEW.id);
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER instances_notify AFTER UPDATE OF desired_generation OR DELETE ON instances
            FOR EACH ROW EXECUTE FUNCTION slipway_notify_instance();
        CREATE FUNCTION slipway_notify_catalog() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('slipway_catalog', TG_TABLE_NAME);
            RETURN NULL;
        END $$;
        CREATE TRIGGER services_notify AFTER INSERT OR UPDATE OR DELETE ON services
            FOR EACH STATEMENT EXECUTE FUNCTION slipway_notify_catalog();
        CREATE TRIGGER service_environments_notify AFTER INSERT OR UPDATE OR DELETE ON service_environments
            FOR EACH STATEMENT EXECUTE FUNCTION slipway_notify_catalog();
        CREATE TRIGGER product_tiers_notify AFTER INSERT OR UPDATE OR DELETE ON product_tiers
            FOR EACH STATEMENT EXECUTE FUNCTION slipway_notify_catalog();
        CREATE TRIGGER image_registries_notify AFTER INSERT OR UPDATE OR DELETE ON image_registries
            FOR EACH STATEMENT EXECUTE FUNCTION slipway_notify_catalog();
        CREATE TRIGGER image_configs_notify AFTER INSERT OR UPDATE OR DELETE ON image_configs
            FOR EACH STATEMENT EXECUTE FUNCTION slipway_notify_catalog();
        CREATE TRIGGER tier_versions_notify AFTER INSERT OR UPDATE OR DELETE ON tier_versions
            FOR EACH STATEMENT EXECUTE FUNCTION slipway_notify_catalog();
        CREATE TRIGGER tier_version_images_notify AFTER INSERT OR UPDATE OR DELETE ON tier_version_images
            FOR EACH STATEMENT EXECUTE FUNCTION slipway_notify_catalog();
        CREATE TABLE slipway_leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL
        );
        """

    /// Every notification on one channel (see ``SQLChannel``): PostgreSQL delivers one channel's
    /// notifications to a listener in commit order, and a listener of several hands each channel to its own
    /// consumer, so across channels an answer could be seen before a change committed ahead of it was acted on.
    static let v3OneChangeChannel = """
        CREATE OR REPLACE FUNCTION slipway_notify_instance() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                PERFORM pg_notify('slipway_changes', 'instance deleted ' || OLD.seq || ' ' || OLD.id);
            ELSIF NEW.desired_generation IS DISTINCT FROM OLD.desired_generation THEN
                PERFORM pg_notify('slipway_changes', 'instance changed ' || NEW.seq || ' ' || NEW.id);
            END IF;
            RETURN NULL;
        END $$;
        CREATE OR REPLACE FUNCTION slipway_notify_catalog() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('slipway_changes', 'catalog ' || TG_TABLE_NAME);
            RETURN NULL;
        END $$;
        """

    /// Releases pin digests; registries say how to reach them and whether releases verify there (off for the
    /// registries that exist already); deleting an image config keeps the tier versions and rollouts that name it.
    static let v4ImageDigests = """
        ALTER TABLE image_registries ADD COLUMN insecure BOOLEAN NOT NULL DEFAULT FALSE;
        ALTER TABLE image_registries ADD COLUMN verify_images BOOLEAN NOT NULL DEFAULT FALSE;
        ALTER TABLE tier_version_images ADD COLUMN registry_insecure BOOLEAN NOT NULL DEFAULT FALSE;
        ALTER TABLE tier_version_images ADD COLUMN image_digest TEXT;
        ALTER TABLE tier_version_images DROP CONSTRAINT IF EXISTS tier_version_images_image_config_id_fkey;
        ALTER TABLE rollouts DROP CONSTRAINT IF EXISTS rollouts_image_config_id_fkey;
        """

    /// Accounts: emails unique per organization, users that can be disabled, a token version that ends
    /// sessions (user changes are announced like catalog changes, so every replica reads them afresh), the
    /// forced first password change; the audit log.
    static let v5AccountsAndAudit = """
        ALTER TABLE users DROP CONSTRAINT IF EXISTS users_email_key;
        ALTER TABLE users ADD CONSTRAINT users_organization_email UNIQUE (organization_id, email);
        CREATE INDEX users_by_email ON users(email);
        ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
        ALTER TABLE users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 1;
        ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;
        CREATE TRIGGER users_notify AFTER UPDATE OR DELETE ON users
            FOR EACH STATEMENT EXECUTE FUNCTION slipway_notify_catalog();
        CREATE TABLE audit_log (
            seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            at TIMESTAMPTZ NOT NULL,
            organization_id TEXT NOT NULL,
            actor_type TEXT NOT NULL,
            actor_id TEXT,
            actor_email TEXT,
            action TEXT NOT NULL,
            targets TEXT NOT NULL,
            status BIGINT NOT NULL,
            error_id TEXT,
            client_address TEXT,
            changes TEXT
        );
        CREATE INDEX audit_log_by_organization ON audit_log(organization_id, seq);
        CREATE INDEX audit_log_by_time ON audit_log(at);
        """
}
