"""The metadata store's schema as the hand-written migrations made it before the move to
SQLAlchemy and Alembic (featurestore_spark up to commit 1cc7032, migrations 1-5), kept to make a
store of that schema in tests: ``{id}``, ``{key}`` and ``{text}`` are each dialect's types."""

SQLITE_TYPES = {"id": "INTEGER PRIMARY KEY AUTOINCREMENT", "key": "TEXT", "text": "TEXT"}
MYSQL_TYPES = {"id": "INTEGER AUTO_INCREMENT PRIMARY KEY",
               "key": "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
               "text": "MEDIUMTEXT CHARACTER SET utf8mb4"}

MIGRATIONS: list[list[str]] = [
    [  # 1: feature groups, their features and commits
        """CREATE TABLE feature_groups (
            id {id},
            project {key} NOT NULL,
            name {key} NOT NULL,
            version INTEGER NOT NULL,
            description {text} NOT NULL,
            primary_key {text} NOT NULL,
            partition_by {text} NOT NULL,
            event_time {key},
            location {text} NOT NULL,
            created_at {key} NOT NULL,
            creator {key} NOT NULL,
            UNIQUE (project, name, version))""",
        """CREATE TABLE features (
            feature_group_id INTEGER NOT NULL REFERENCES feature_groups (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            name {key} NOT NULL,
            type {text} NOT NULL,
            description {text} NOT NULL,
            PRIMARY KEY (feature_group_id, name))""",
        """CREATE TABLE commits (
            feature_group_id INTEGER NOT NULL REFERENCES feature_groups (id) ON DELETE CASCADE,
            commit_id INTEGER NOT NULL,
            committed_at {key} NOT NULL,
            operation {key} NOT NULL,
            rows_inserted INTEGER NOT NULL,
            rows_updated INTEGER NOT NULL,
            rows_deleted INTEGER NOT NULL,
            creator {key} NOT NULL,
            PRIMARY KEY (feature_group_id, commit_id))""",
    ],
    [  # 2: online feature groups: the flag, and the last commit synced to the online store
        "ALTER TABLE feature_groups ADD COLUMN online INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE feature_groups ADD COLUMN online_commit INTEGER",
    ],
    [  # 3: training datasets (one statement, re-runnable: MySQL commits each DDL on its own).
        # features: JSON [[name, type], ...]; splits: JSON {"kind", "seed"/"column", "splits"};
        # source: JSON {"kind": "query" | "dataframe", "query", "feature_groups", ...}
        """CREATE TABLE IF NOT EXISTS training_datasets (
            id {id},
            project {key} NOT NULL,
            name {key} NOT NULL,
            version INTEGER NOT NULL,
            description {text} NOT NULL,
            data_format {key} NOT NULL,
            location {text} NOT NULL,
            features {text} NOT NULL,
            splits {text} NOT NULL,
            source {text} NOT NULL,
            created_at {key} NOT NULL,
            creator {key} NOT NULL,
            UNIQUE (project, name, version))""",
    ],
    [  # 4: JSON documents about a version: statistics per commit, expectation suites,
        # validation reports (one statement, re-runnable)
        """CREATE TABLE IF NOT EXISTS documents (
            project {key} NOT NULL,
            kind {key} NOT NULL,
            name {key} NOT NULL,
            version INTEGER NOT NULL,
            number INTEGER NOT NULL,
            created_at {key} NOT NULL,
            body {text} NOT NULL,
            PRIMARY KEY (project, kind, name, version, number))""",
    ],
    [  # 5: the generation number of the feature groups' metadata (one row), bumped in the
        # transaction of every change a reader may have derived something from (registration,
        # features, online flag): readers that cache plans compare it to know they are current.
        # The INSERT commits with the migration's own row (MySQL commits the DDL on its own).
        "CREATE TABLE IF NOT EXISTS metadata_generation "
        "(id INTEGER PRIMARY KEY, generation INTEGER NOT NULL)",
        "INSERT INTO metadata_generation (id, generation) VALUES (1, 0)",
    ],
]
