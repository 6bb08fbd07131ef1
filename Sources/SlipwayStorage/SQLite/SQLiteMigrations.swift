import GRDB

/// The SQLite schema, as versioned migrations. Never edit a shipped migration: add a new one.
enum SQLiteMigrations {
    /// Refuses a file with migrations this binary does not know: a newer Slipway wrote it, and running an
    /// older one on it would misread what it does not know about.
    static func refuseNewer(_ pool: DatabasePool, path: String) throws {
        let known = Set(migrator.migrations)
        let applied = try pool.read { db in try migrator.appliedIdentifiers(db) }
        let unknown = applied.subtracting(known).sorted()
        guard unknown.isEmpty else {
            throw StoreOpeningError(
                "the SQLite database \(path) has schema migrations this slipwayd does not know (\(unknown.joined(separator: ", "))): "
                    + "a newer Slipway wrote it; run that version or newer (this one knows up to \(migrator.migrations.last ?? "none"))")
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-image-configs") { db in
            try db.execute(
                sql: """
                    CREATE TABLE settings (
                        key TEXT PRIMARY KEY,
                        value TEXT NOT NULL
                    );
                    CREATE TABLE organizations (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        id TEXT NOT NULL UNIQUE,
                        name TEXT NOT NULL,
                        created_at DATETIME NOT NULL
                    );
                    CREATE TABLE users (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        id TEXT NOT NULL UNIQUE,
                        organization_id TEXT NOT NULL REFERENCES organizations(id),
                        email TEXT NOT NULL UNIQUE COLLATE NOCASE,
                        name TEXT NOT NULL,
                        role TEXT NOT NULL,
                        password_hash TEXT NOT NULL,
                        created_at DATETIME NOT NULL
                    );
                    CREATE INDEX users_by_organization ON users(organization_id, seq);
                    CREATE TABLE refresh_tokens (
                        token_hash TEXT PRIMARY KEY,
                        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                        expires_at DATETIME NOT NULL
                    );
                    CREATE INDEX refresh_tokens_by_user ON refresh_tokens(user_id);
                    CREATE TABLE services (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        id TEXT NOT NULL UNIQUE,
                        organization_id TEXT NOT NULL REFERENCES organizations(id),
                        name TEXT NOT NULL,
                        description TEXT NOT NULL,
                        created_at DATETIME NOT NULL,
                        UNIQUE (organization_id, name)
                    );
                    CREATE TABLE service_environments (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        id TEXT NOT NULL UNIQUE,
                        service_id TEXT NOT NULL REFERENCES services(id),
                        name TEXT NOT NULL,
                        description TEXT NOT NULL,
                        type TEXT NOT NULL,
                        created_at DATETIME NOT NULL,
                        UNIQUE (service_id, name)
                    );
                    CREATE TABLE product_tiers (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        id TEXT NOT NULL UNIQUE,
                        service_id TEXT NOT NULL REFERENCES services(id),
                        service_environment_id TEXT NOT NULL REFERENCES service_environments(id),
                        name TEXT NOT NULL,
                        description TEXT NOT NULL,
                        created_at DATETIME NOT NULL,
                        UNIQUE (service_environment_id, name)
                    );
                    CREATE INDEX product_tiers_by_service ON product_tiers(service_id, seq);
                    CREATE TABLE image_registries (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        id TEXT NOT NULL UNIQUE,
                        organization_id TEXT NOT NULL REFERENCES organizations(id),
                        name TEXT NOT NULL,
                        host TEXT NOT NULL,
                        username TEXT,
                        password TEXT,
                        is_default BOOLEAN NOT NULL,
                        created_at DATETIME NOT NULL,
                        UNIQUE (organization_id, name)
                    );
                    CREATE TABLE image_configs (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
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
                        revision INTEGER NOT NULL,
                        created_at DATETIME NOT NULL,
                        updated_at DATETIME NOT NULL
                    );
                    CREATE INDEX image_configs_by_environment ON image_configs(service_environment_id, seq);
                    CREATE INDEX image_configs_by_registry ON image_configs(image_registry_id);
                    CREATE TABLE tier_versions (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        product_tier_id TEXT NOT NULL REFERENCES product_tiers(id) ON DELETE CASCADE,
                        sequence INTEGER NOT NULL,
                        version TEXT NOT NULL,
                        status TEXT NOT NULL,
                        released_at DATETIME NOT NULL,
                        released_by TEXT NOT NULL,
                        UNIQUE (product_tier_id, sequence),
                        UNIQUE (product_tier_id, version)
                    );
                    CREATE TABLE tier_version_images (
                        tier_version_seq INTEGER NOT NULL REFERENCES tier_versions(seq) ON DELETE CASCADE,
                        image_config_id TEXT NOT NULL REFERENCES image_configs(id),
                        revision INTEGER NOT NULL,
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
                    """)
        }
        migrator.registerMigration("v2-fleet") { db in
            try db.execute(
                sql: """
                    CREATE TABLE instances (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        id TEXT NOT NULL UNIQUE,
                        organization_id TEXT NOT NULL REFERENCES organizations(id),
                        service_id TEXT NOT NULL REFERENCES services(id),
                        service_environment_id TEXT NOT NULL REFERENCES service_environments(id),
                        product_tier_id TEXT NOT NULL REFERENCES product_tiers(id),
                        name TEXT NOT NULL,
                        agent_token_hash TEXT NOT NULL UNIQUE,
                        current_version TEXT NOT NULL,
                        desired_version TEXT NOT NULL,
                        desired_generation INTEGER NOT NULL,
                        reported_generation INTEGER,
                        last_report_status TEXT,
                        last_report_message TEXT,
                        last_report_at DATETIME,
                        health TEXT,
                        created_at DATETIME NOT NULL,
                        UNIQUE (service_environment_id, name)
                    );
                    CREATE INDEX instances_by_environment ON instances(service_environment_id, seq);
                    CREATE INDEX instances_by_tier ON instances(product_tier_id);
                    CREATE TABLE rollouts (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        id TEXT NOT NULL UNIQUE,
                        organization_id TEXT NOT NULL REFERENCES organizations(id),
                        service_id TEXT NOT NULL REFERENCES services(id),
                        service_environment_id TEXT NOT NULL REFERENCES service_environments(id),
                        image_config_id TEXT NOT NULL REFERENCES image_configs(id) ON DELETE CASCADE,
                        status TEXT NOT NULL,
                        policy TEXT NOT NULL,
                        total INTEGER NOT NULL,
                        pending INTEGER NOT NULL,
                        in_progress INTEGER NOT NULL DEFAULT 0,
                        completed INTEGER NOT NULL DEFAULT 0,
                        failed INTEGER NOT NULL DEFAULT 0,
                        skipped INTEGER NOT NULL DEFAULT 0,
                        rolling_back INTEGER NOT NULL DEFAULT 0,
                        rolled_back INTEGER NOT NULL DEFAULT 0,
                        current_wave INTEGER NOT NULL,
                        total_waves INTEGER NOT NULL,
                        bake_until REAL,
                        rollback TEXT NOT NULL,
                        source_versions TEXT NOT NULL,
                        target_versions TEXT NOT NULL,
                        message TEXT NOT NULL,
                        created_by TEXT NOT NULL,
                        created_at DATETIME NOT NULL,
                        started_at DATETIME,
                        updated_at DATETIME NOT NULL,
                        finished_at DATETIME,
                        completed_seconds REAL NOT NULL DEFAULT 0
                    );
                    CREATE INDEX rollouts_by_config ON rollouts(image_config_id, seq);
                    CREATE INDEX rollouts_by_status ON rollouts(status, rollback);
                    CREATE TABLE rollout_instances (
                        rollout_id TEXT NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
                        instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
                        seq INTEGER NOT NULL,
                        wave INTEGER NOT NULL,
                        source_version TEXT NOT NULL,
                        target_version TEXT NOT NULL,
                        status TEXT NOT NULL,
                        started_at REAL,
                        ended_at REAL,
                        deadline REAL,
                        reason TEXT,
                        PRIMARY KEY (rollout_id, instance_id)
                    );
                    CREATE UNIQUE INDEX rollout_instances_order ON rollout_instances(rollout_id, seq);
                    CREATE INDEX rollout_instances_by_wave ON rollout_instances(rollout_id, wave, status);
                    CREATE INDEX rollout_instances_by_instance ON rollout_instances(instance_id, status);
                    CREATE INDEX rollout_instances_by_deadline ON rollout_instances(deadline) WHERE deadline IS NOT NULL;
                    """)
        }
        // Structured notes and outcomes: rules read these, never the rendered text. Rows written before keep
        // their text as a recorded outcome (the `reason` column is read no more, and cleared when a row is
        // written); failed rollbacks are counted once here from that text.
        migrator.registerMigration("v3-rollout-notes") { db in
            try db.execute(sql: """
                    ALTER TABLE rollouts ADD COLUMN note TEXT;
                    ALTER TABLE rollouts ADD COLUMN rollback_failed INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE rollout_instances ADD COLUMN outcome TEXT;
                    UPDATE rollout_instances SET outcome = json_object('rollbackReportedFailure', json_object('message', substr(reason, 18)))
                        WHERE status = 'FAILED' AND reason LIKE 'rollback failed: %';
                    UPDATE rollout_instances SET outcome = json_object('recorded', json_object('_0', reason))
                        WHERE reason IS NOT NULL AND outcome IS NULL;
                    UPDATE rollouts SET rollback_failed = (
                        SELECT COUNT(*) FROM rollout_instances ri WHERE ri.rollout_id = rollouts.id AND ri.status = 'FAILED'
                            AND ri.reason LIKE 'rollback failed: %');
                    """)
        }
        // Releases pin digests; registries say how to reach them and whether releases verify there (off for the
        // registries that exist already, which were never checked); releases are history: deleting an image
        // config keeps the tier versions and rollouts that name it, so those two lose their foreign key to it.
        migrator.registerMigration("v4-image-digests") { db in
            try db.execute(sql: """
                    ALTER TABLE image_registries ADD COLUMN insecure BOOLEAN NOT NULL DEFAULT 0;
                    ALTER TABLE image_registries ADD COLUMN verify_images BOOLEAN NOT NULL DEFAULT 0;
                    CREATE TABLE tier_version_images_v4 (
                        tier_version_seq INTEGER NOT NULL REFERENCES tier_versions(seq) ON DELETE CASCADE,
                        image_config_id TEXT NOT NULL,
                        revision INTEGER NOT NULL,
                        description TEXT NOT NULL,
                        image_name TEXT NOT NULL,
                        image_tag TEXT NOT NULL,
                        image_registry_id TEXT NOT NULL,
                        registry_host TEXT NOT NULL,
                        public_key_pem TEXT,
                        commands TEXT,
                        args TEXT,
                        registry_insecure BOOLEAN NOT NULL DEFAULT 0,
                        image_digest TEXT,
                        PRIMARY KEY (tier_version_seq, image_config_id)
                    );
                    INSERT INTO tier_version_images_v4 (tier_version_seq, image_config_id, revision, description, image_name, image_tag,
                        image_registry_id, registry_host, public_key_pem, commands, args)
                        SELECT tier_version_seq, image_config_id, revision, description, image_name, image_tag, image_registry_id,
                            registry_host, public_key_pem, commands, args FROM tier_version_images;
                    DROP TABLE tier_version_images;
                    ALTER TABLE tier_version_images_v4 RENAME TO tier_version_images;
                    CREATE INDEX tier_version_images_by_config ON tier_version_images(image_config_id);
                    CREATE TABLE rollouts_v4 (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        id TEXT NOT NULL UNIQUE,
                        organization_id TEXT NOT NULL REFERENCES organizations(id),
                        service_id TEXT NOT NULL REFERENCES services(id),
                        service_environment_id TEXT NOT NULL REFERENCES service_environments(id),
                        image_config_id TEXT NOT NULL,
                        status TEXT NOT NULL,
                        policy TEXT NOT NULL,
                        total INTEGER NOT NULL,
                        pending INTEGER NOT NULL,
                        in_progress INTEGER NOT NULL DEFAULT 0,
                        completed INTEGER NOT NULL DEFAULT 0,
                        failed INTEGER NOT NULL DEFAULT 0,
                        skipped INTEGER NOT NULL DEFAULT 0,
                        rolling_back INTEGER NOT NULL DEFAULT 0,
                        rolled_back INTEGER NOT NULL DEFAULT 0,
                        current_wave INTEGER NOT NULL,
                        total_waves INTEGER NOT NULL,
                        bake_until REAL,
                        rollback TEXT NOT NULL,
                        source_versions TEXT NOT NULL,
                        target_versions TEXT NOT NULL,
                        message TEXT NOT NULL,
                        created_by TEXT NOT NULL,
                        created_at DATETIME NOT NULL,
                        started_at DATETIME,
                        updated_at DATETIME NOT NULL,
                        finished_at DATETIME,
                        completed_seconds REAL NOT NULL DEFAULT 0,
                        note TEXT,
                        rollback_failed INTEGER NOT NULL DEFAULT 0
                    );
                    INSERT INTO rollouts_v4 SELECT seq, id, organization_id, service_id, service_environment_id, image_config_id, status,
                        policy, total, pending, in_progress, completed, failed, skipped, rolling_back, rolled_back, current_wave,
                        total_waves, bake_until, rollback, source_versions, target_versions, message, created_by, created_at, started_at,
                        updated_at, finished_at, completed_seconds, note, rollback_failed FROM rollouts;
                    DROP TABLE rollouts;
                    ALTER TABLE rollouts_v4 RENAME TO rollouts;
                    CREATE INDEX rollouts_by_config ON rollouts(image_config_id, seq);
                    CREATE INDEX rollouts_by_status ON rollouts(status, rollback);
                    """)
        }
        // Accounts: emails unique per organization (so nothing says whether one exists elsewhere), users that
        // can be disabled, a token version that ends sessions, the forced first password change; the audit log.
        migrator.registerMigration("v5-accounts-and-audit") { db in
            try db.execute(sql: """
                    CREATE TABLE users_v5 (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        id TEXT NOT NULL UNIQUE,
                        organization_id TEXT NOT NULL REFERENCES organizations(id),
                        email TEXT NOT NULL COLLATE NOCASE,
                        name TEXT NOT NULL,
                        role TEXT NOT NULL,
                        password_hash TEXT NOT NULL,
                        created_at DATETIME NOT NULL,
                        disabled BOOLEAN NOT NULL DEFAULT 0,
                        token_version INTEGER NOT NULL DEFAULT 1,
                        must_change_password BOOLEAN NOT NULL DEFAULT 0,
                        UNIQUE (organization_id, email)
                    );
                    INSERT INTO users_v5 (seq, id, organization_id, email, name, role, password_hash, created_at)
                        SELECT seq, id, organization_id, email, name, role, password_hash, created_at FROM users;
                    DROP TABLE users;
                    ALTER TABLE users_v5 RENAME TO users;
                    CREATE INDEX users_by_organization ON users(organization_id, seq);
                    CREATE INDEX users_by_email ON users(email);
                    CREATE TABLE audit_log (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        at DATETIME NOT NULL,
                        organization_id TEXT NOT NULL,
                        actor_type TEXT NOT NULL,
                        actor_id TEXT,
                        actor_email TEXT,
                        action TEXT NOT NULL,
                        targets TEXT NOT NULL,
                        status INTEGER NOT NULL,
                        error_id TEXT,
                        client_address TEXT,
                        changes TEXT
                    );
                    CREATE INDEX audit_log_by_organization ON audit_log(organization_id, seq);
                    CREATE INDEX audit_log_by_time ON audit_log(at);
                    """)
        }
        // The key that signs access tokens lives outside the database now (a copy of the database alone signs
        // nothing): forget the one kept here. Instances are counted per organization (its quota).
        migrator.registerMigration("v6-hardening") { db in
            try db.execute(sql: """
                    DELETE FROM settings WHERE key = 'jwt_secret';
                    CREATE INDEX instances_by_organization ON instances(organization_id);
                    """)
        }
        // A sliding window takes the next few pending rows of its wave in plan order, many times a rollout.
        migrator.registerMigration("v7-rollout-order-by-wave") { db in
            try db.execute(sql: """
                    DROP INDEX rollout_instances_by_wave;
                    CREATE INDEX rollout_instances_by_wave ON rollout_instances(rollout_id, wave, status, seq);
                    """)
        }
        // Instances carry labels for a rollout's selector; a rollout remembers its canary gate, when it was
        // promoted, and when it was paused (its pause times out).
        migrator.registerMigration("v8-targeting-and-gates") { db in
            try db.execute(sql: """
                    ALTER TABLE instances ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
                    ALTER TABLE rollouts ADD COLUMN gate_after_wave INTEGER;
                    ALTER TABLE rollouts ADD COLUMN promoted_at REAL;
                    ALTER TABLE rollouts ADD COLUMN paused_at REAL;
                    """)
        }
        // Webhooks, and the durable queue of their deliveries: written in the transaction of the event.
        migrator.registerMigration("v9-webhooks") { db in
            try db.execute(sql: """
                    CREATE TABLE webhooks (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        id TEXT NOT NULL UNIQUE,
                        organization_id TEXT NOT NULL REFERENCES organizations(id),
                        url TEXT NOT NULL,
                        events TEXT NOT NULL,
                        secret TEXT NOT NULL,
                        created_by TEXT NOT NULL,
                        created_at DATETIME NOT NULL
                    );
                    CREATE INDEX webhooks_by_organization ON webhooks(organization_id, seq);
                    CREATE TABLE webhook_deliveries (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        id TEXT NOT NULL UNIQUE,
                        webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
                        event TEXT NOT NULL,
                        payload TEXT NOT NULL,
                        status TEXT NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        next_attempt_at REAL,
                        last_status_code INTEGER,
                        last_error TEXT,
                        created_at DATETIME NOT NULL,
                        delivered_at DATETIME
                    );
                    CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries(webhook_id, seq);
                    CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
                    """)
        }
        // A rollout's analysis: failed measurements, when the next is due, the last one, and the last wave a pass followed.
        migrator.registerMigration("v10-rollout-analysis") { db in
            try db.execute(sql: """
                    ALTER TABLE rollouts ADD COLUMN analysis_failures INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE rollouts ADD COLUMN next_analysis_at REAL;
                    ALTER TABLE rollouts ADD COLUMN last_analysis TEXT;
                    ALTER TABLE rollouts ADD COLUMN analyzed_through_wave INTEGER;
                    """)
        }
        // A tier version's release notes.
        migrator.registerMigration("v11-release-notes") { db in
            try db.execute(sql: "ALTER TABLE tier_versions ADD COLUMN release_notes TEXT")
        }
        // The image-config quota counts an organization's image configs on every create: from this index
        // alone, not by reading the table (a table scan held the writer about 1.6 ms at 16,000 image configs).
        migrator.registerMigration("v12-image-configs-by-service") { db in
            try db.execute(sql: "CREATE INDEX image_configs_by_service ON image_configs(service_id)")
        }
        return migrator
    }
}
