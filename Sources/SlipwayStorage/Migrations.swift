import GRDB

/// The SQLite schema, as versioned migrations. Never edit a shipped migration: add a new one.
enum Migrations {
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
        return migrator
    }
}
