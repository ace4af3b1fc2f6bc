import GRDB

/// The store's migrations. A shipped migration is never edited: schema changes go in a new one.
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: nodes, jobs, attempts, ranks, checkpoints, events") { db in
            try db.execute(sql: v1)
        }
        migrator.registerMigration("v2: job uid (the job's identity across controllers)") { db in
            try db.execute(sql: v2)
        }
        migrator.registerMigration("v3: metric series (downsampled per job and metric)") { db in
            try db.execute(sql: v3)
        }
        return migrator
    }

    /// A job's `uid` makes its identity (`<id>.<uid>`) unique beyond one state directory: its checkpoint
    /// folder is named by it. Jobs submitted before v2 keep an empty uid (their folder stays `<id>`).
    static let v2 = """
        ALTER TABLE job ADD COLUMN uid TEXT NOT NULL DEFAULT '' CHECK (uid GLOB '[0-9a-f]*');
        CREATE UNIQUE INDEX job_uid ON job(uid) WHERE uid <> '';
        """

    /// Per job and metric, the bucket width and the points (`SeriesDownsampling`): `seq` orders a series'
    /// points, `count` samples are averaged in each; `step` and `time` are its newest sample's.
    static let v3 = """
        CREATE TABLE series (
            jobId TEXT NOT NULL REFERENCES job(id) ON DELETE CASCADE,
            metric TEXT NOT NULL CHECK (metric <> ''),
            width INTEGER NOT NULL CHECK (width >= 1),
            points INTEGER NOT NULL CHECK (points >= 0),
            PRIMARY KEY (jobId, metric)
        );

        CREATE TABLE seriesPoint (
            jobId TEXT NOT NULL,
            metric TEXT NOT NULL,
            seq INTEGER NOT NULL CHECK (seq >= 0),
            step INTEGER,
            time TEXT NOT NULL,
            value REAL NOT NULL,
            min REAL NOT NULL,
            max REAL NOT NULL,
            count INTEGER NOT NULL CHECK (count >= 1),
            PRIMARY KEY (jobId, metric, seq),
            FOREIGN KEY (jobId, metric) REFERENCES series(jobId, metric) ON DELETE CASCADE
        );
        """

    static let v1 = """
        CREATE TABLE node (
            id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),
            host TEXT NOT NULL CHECK (host <> ''),
            port INTEGER CHECK (port BETWEEN 1 AND 65535),
            spare INTEGER NOT NULL DEFAULT 0 CHECK (spare IN (0, 1)),
            state TEXT NOT NULL CHECK (state IN ('connecting', 'ready', 'unreachable', 'lost', 'quarantined')),
            stateReason TEXT,
            accelerators TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(accelerators)),
            registeredAt TEXT NOT NULL,
            stateChangedAt TEXT NOT NULL
        );

        CREATE TABLE job (
            id TEXT PRIMARY KEY NOT NULL,
            seq INTEGER NOT NULL UNIQUE CHECK (seq >= 1),
            name TEXT NOT NULL CHECK (name <> ''),
            state TEXT NOT NULL
                CHECK (state IN ('pending', 'running', 'recovering', 'succeeded', 'failed', 'cancelled')),
            reason TEXT,
            spec TEXT NOT NULL CHECK (json_valid(spec)),
            manifest TEXT NOT NULL,
            manifestPath TEXT NOT NULL,
            restarts INTEGER NOT NULL DEFAULT 0 CHECK (restarts >= 0),
            submittedAt TEXT NOT NULL,
            updatedAt TEXT NOT NULL
        );

        CREATE TABLE attempt (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            jobId TEXT NOT NULL REFERENCES job(id) ON DELETE CASCADE,
            number INTEGER NOT NULL CHECK (number >= 1),
            state TEXT NOT NULL CHECK (state IN ('launching', 'running', 'succeeded', 'failed', 'stopped')),
            token TEXT NOT NULL CHECK (length(token) >= 32),
            resumeStep INTEGER CHECK (resumeStep >= 0),
            placement TEXT NOT NULL CHECK (json_valid(placement)),
            startedAt TEXT NOT NULL,
            endedAt TEXT,
            endReason TEXT,
            UNIQUE (jobId, number)
        );

        CREATE TABLE rank (
            attemptId INTEGER NOT NULL REFERENCES attempt(id) ON DELETE CASCADE,
            rank INTEGER NOT NULL CHECK (rank >= 0),
            nodeId TEXT NOT NULL REFERENCES node(id),
            localRank INTEGER NOT NULL CHECK (localRank >= 0),
            state TEXT NOT NULL CHECK (state IN ('pending', 'starting', 'running', 'exited')),
            pid INTEGER,
            exitStatus INTEGER,
            exitSignal INTEGER,
            lastStep INTEGER,
            updatedAt TEXT NOT NULL,
            PRIMARY KEY (attemptId, rank)
        );
        CREATE INDEX rank_node ON rank(nodeId);

        CREATE TABLE checkpoint (
            jobId TEXT NOT NULL REFERENCES job(id) ON DELETE CASCADE,
            step INTEGER NOT NULL CHECK (step >= 0),
            attemptId INTEGER NOT NULL REFERENCES attempt(id),
            state TEXT NOT NULL CHECK (state IN ('committed', 'corrupt', 'pruned')),
            dir TEXT NOT NULL,
            committedAt TEXT NOT NULL,
            PRIMARY KEY (jobId, step)
        );

        CREATE TABLE event (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            time TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind GLOB '[a-z]*.[a-z]*'),
            jobId TEXT REFERENCES job(id) ON DELETE CASCADE,
            attemptId INTEGER REFERENCES attempt(id) ON DELETE CASCADE,
            nodeId TEXT REFERENCES node(id),
            rank INTEGER CHECK (rank >= 0),
            message TEXT NOT NULL,
            payload TEXT CHECK (payload IS NULL OR json_valid(payload))
        );
        CREATE INDEX event_job ON event(jobId, id);
        CREATE INDEX event_node ON event(nodeId, id);
        """
}
