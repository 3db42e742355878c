/**
 * Home Assistant's log file, read back as entries: one per logged record, with the lines
 * that follow it (a traceback) kept in its text.
 */

/** One record of HA's log. */
export interface LogEntry {
  /** Which boot wrote it (1, 2, …). */
  boot: number;
  time: string;
  level: string;
  /** The Python logger, e.g. `homeassistant.components.websocket_api.http.connection` or `custom_components.synapse.bridge`. */
  logger: string;
  /** The first line's message, and any continuation lines below it. */
  text: string;
}

// 2025-04-30 12:00:00.123 ERROR (MainThread) [homeassistant.setup] Error during setup …
const RECORD = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) ([A-Z]+) \(([^)]*)\) \[([^\]]+)\] ?(.*)$/;

/** Split a log file into records. */
export function parseLog(text: string, boot: number): LogEntry[] {
  const entries: LogEntry[] = [];
  for (const line of text.split("\n")) {
    const match = RECORD.exec(line);
    if (match) {
      entries.push({ boot, time: match[1] ?? "", level: match[2] ?? "", logger: match[4] ?? "", text: match[5] ?? "" });
    } else if (line.length > 0) {
      const last = entries.at(-1);
      if (last) last.text += `\n${line}`;
    }
  }
  return entries;
}

/** An entry on one line, for assertion messages. */
export function formatEntry(entry: LogEntry): string {
  return `[boot ${entry.boot}] ${entry.time} ${entry.level} [${entry.logger}] ${entry.text}`;
}
