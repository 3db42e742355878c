/**
 * What Home Assistant's recorder holds, read from its SQLite file while HA runs (read-only;
 * WAL lets us read while it writes): every table's highest row id and the bytes its pages
 * and indexes take (SQLite's dbstat), so that two snapshots give the rows added between
 * them, each row attributed to the event type, entity or statistic it belongs to.
 */
import Database from "better-sqlite3";
import { z } from "zod";

/** A table's last row id and its size on disk (its own pages and those of its indexes). */
export interface TableMark {
  lastId: number;
  diskBytes: number;
}

/** The recorder's database at one moment. */
export interface RecorderSnapshot {
  tables: Record<string, TableMark>;
}

/** Rows added to one table for one owner (an event type, an entity, a statistic), with their stored bytes. */
export interface AddedRows {
  table: string;
  /** `event:<type>`, `entity:<entity_id>`, `statistic:<statistic_id>`, `synapse:<unique id>` (a `synapse/update` event), or `table` for bookkeeping rows. */
  owner: string;
  rows: number;
  /** What SQLite stores of them: text and blobs at their length, numbers at 8 bytes (no page or index overhead). */
  bytes: number;
}

const nameSchema = z.object({ name: z.string(), tbl_name: z.string(), type: z.string() });
const columnSchema = z.object({ name: z.string(), pk: z.number() });
const pageSchema = z.object({ name: z.string(), bytes: z.number() });
const addedSchema = z.object({ owner: z.string().nullable(), rows: z.number(), bytes: z.number().nullable() });

/** The tables whose rows are attributed: their id column and how a row finds its owner. */
const OWNERS: Record<string, string> = {
  // the synapse integration fires `synapse/update` for every entity write of an app: owned by that entity
  events:
    "CASE (SELECT event_type FROM event_types t WHERE t.event_type_id = r.event_type_id) WHEN 'synapse/update' THEN 'synapse:' || (SELECT json_extract(d.shared_data, '$.unique_id') FROM event_data d WHERE d.data_id = r.data_id) ELSE 'event:' || (SELECT event_type FROM event_types t WHERE t.event_type_id = r.event_type_id) END",
  event_data:
    "CASE (SELECT t.event_type FROM events e JOIN event_types t ON t.event_type_id = e.event_type_id WHERE e.data_id = r.data_id ORDER BY e.event_id LIMIT 1) WHEN 'synapse/update' THEN 'synapse:' || json_extract(r.shared_data, '$.unique_id') ELSE 'event:' || (SELECT t.event_type FROM events e JOIN event_types t ON t.event_type_id = e.event_type_id WHERE e.data_id = r.data_id ORDER BY e.event_id LIMIT 1) END",
  states: "'entity:' || (SELECT entity_id FROM states_meta m WHERE m.metadata_id = r.metadata_id)",
  state_attributes:
    "'entity:' || (SELECT m.entity_id FROM states s JOIN states_meta m ON m.metadata_id = s.metadata_id WHERE s.attributes_id = r.attributes_id ORDER BY s.state_id LIMIT 1)",
  statistics: "'statistic:' || (SELECT statistic_id FROM statistics_meta m WHERE m.id = r.metadata_id)",
  statistics_short_term: "'statistic:' || (SELECT statistic_id FROM statistics_meta m WHERE m.id = r.metadata_id)",
};

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** The recorder's database, opened read-only. */
export interface RecorderReader {
  snapshot(): RecorderSnapshot;
  /** Rows added between two snapshots, by table and owner. */
  added(before: RecorderSnapshot, after: RecorderSnapshot): AddedRows[];
  close(): void;
}

/** Open the recorder's SQLite file read-only. */
export function openRecorder(file: string): RecorderReader {
  const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 10_000 });

  const tables = () => z.array(nameSchema).parse(db.prepare("SELECT name, tbl_name, type FROM sqlite_schema WHERE type IN ('table', 'index')").all());
  const idColumn = (table: string) => z.array(columnSchema).parse(db.prepare(`PRAGMA table_info(${quote(table)})`).all()).find(column => column.pk === 1)?.name;
  const columns = (table: string) => z.array(columnSchema).parse(db.prepare(`PRAGMA table_info(${quote(table)})`).all()).map(column => column.name);

  const snapshot = (): RecorderSnapshot => {
    const schema = tables();
    const pages = new Map(z.array(pageSchema).parse(db.prepare("SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name").all()).map(row => [row.name, row.bytes]));
    const result: Record<string, TableMark> = {};
    for (const table of schema.filter(entry => entry.type === "table" && !entry.name.startsWith("sqlite_"))) {
      const id = idColumn(table.name);
      const lastId = id === undefined ? 0 : z.number().nullable().parse(db.prepare(`SELECT MAX(${quote(id)}) FROM ${quote(table.name)}`).pluck().get());
      // a table's own pages and its indexes' pages
      const diskBytes = schema.filter(entry => entry.tbl_name === table.name).reduce((sum, entry) => sum + (pages.get(entry.name) ?? 0), 0);
      result[table.name] = { lastId: lastId ?? 0, diskBytes };
    }
    return { tables: result };
  };

  const added = (before: RecorderSnapshot, after: RecorderSnapshot): AddedRows[] => {
    const rows: AddedRows[] = [];
    for (const [table, mark] of Object.entries(after.tables)) {
      const from = before.tables[table]?.lastId ?? 0;
      const id = idColumn(table);
      if (id === undefined || mark.lastId <= from) continue;
      const size = columns(table)
        .map(column => `CASE typeof(r.${quote(column)}) WHEN 'null' THEN 0 WHEN 'integer' THEN 8 WHEN 'real' THEN 8 ELSE length(CAST(r.${quote(column)} AS BLOB)) END`)
        .join(" + ");
      const owner = OWNERS[table] ?? "'table'";
      const sql = `SELECT ${owner} AS owner, COUNT(*) AS rows, SUM(${size}) AS bytes FROM ${quote(table)} r WHERE r.${quote(id)} > ? AND r.${quote(id)} <= ? GROUP BY 1`;
      for (const row of z.array(addedSchema).parse(db.prepare(sql).all(from, mark.lastId))) {
        rows.push({ table, owner: row.owner ?? "unknown", rows: row.rows, bytes: row.bytes ?? 0 });
      }
    }
    return rows;
  };

  return { snapshot, added, close: () => db.close() };
}
