/**
 * zod schemas of the JSON lines borg 1.2 / 1.4 writes to stderr with `--log-json` (progress,
 * file status, log messages, questions), and their normalisation into camelCase events with
 * real dates. Raw schemas mirror borg's own field names; nothing outside this file sees them.
 */
import { z } from "zod";

/** Log-line `time` fields are unix seconds as floats. */
const unixSeconds = z.number().transform(seconds => new Date(seconds * 1000));

const rawArchiveProgress = z.object({
  type: z.literal("archive_progress"),
  time: unixSeconds,
  finished: z.boolean(),
  original_size: z.number().optional(),
  compressed_size: z.number().optional(),
  deduplicated_size: z.number().optional(),
  nfiles: z.number().optional(),
  path: z.string().optional(),
});

const rawProgressPercent = z.object({
  type: z.literal("progress_percent"),
  operation: z.number(),
  msgid: z.string().nullish(),
  finished: z.boolean(),
  message: z.string().nullish(),
  current: z.number().nullish(),
  total: z.number().nullish(),
  info: z.array(z.unknown()).nullish(),
  time: unixSeconds,
});

const rawProgressMessage = z.object({
  type: z.literal("progress_message"),
  operation: z.number(),
  msgid: z.string().nullish(),
  finished: z.boolean(),
  message: z.string().nullish(),
  time: unixSeconds,
});

const rawFileStatus = z.object({
  type: z.literal("file_status"),
  status: z.string(),
  path: z.string(),
});

const rawLogMessage = z.object({
  type: z.literal("log_message"),
  time: unixSeconds,
  levelname: z.string(),
  name: z.string(),
  message: z.string(),
  msgid: z.string().nullish(),
});

const QUESTION_TYPES = [
  "question_prompt",
  "question_prompt_retry",
  "question_invalid_answer",
  "question_accepted_default",
  "question_accepted_true",
  "question_accepted_false",
  "question_env_answer",
] as const;

const rawQuestion = z.object({
  type: z.enum(QUESTION_TYPES),
  msgid: z.string().nullish(),
  message: z.string().nullish(),
  is_prompt: z.boolean().optional(),
});

/** Any JSON line borg writes to stderr under `--log-json`. */
export const rawLogLineSchema = z.discriminatedUnion("type", [
  rawArchiveProgress,
  rawProgressPercent,
  rawProgressMessage,
  rawFileStatus,
  rawLogMessage,
  rawQuestion,
]);

/** Counters of a running `borg create`. */
export interface ArchiveProgress {
  type: "archive_progress";
  time: Date;
  finished: boolean;
  originalSize?: number;
  compressedSize?: number;
  deduplicatedSize?: number;
  nfiles?: number;
  path?: string;
}

/** Progress of prune, compact, check, extract, cache sync. */
export interface ProgressPercent {
  type: "progress_percent";
  operation: number;
  msgid?: string;
  finished: boolean;
  message?: string;
  current?: number;
  total?: number;
  time: Date;
}

/** A phase message such as `cache.begin_transaction`. */
export interface ProgressMessage {
  type: "progress_message";
  operation: number;
  msgid?: string;
  finished: boolean;
  message?: string;
  time: Date;
}

/** One file borg processed (with `--list`). */
export interface FileStatus {
  type: "file_status";
  status: string;
  path: string;
}

/** A log record; errors carry a `msgid`. */
export interface LogMessage {
  type: "log_message";
  time: Date;
  level: string;
  logger: string;
  message: string;
  msgid?: string;
}

/** A question borg asked (it never gets an interactive answer from us). */
export interface QuestionEvent {
  type: "question";
  kind: (typeof QUESTION_TYPES)[number];
  msgid?: string;
  message?: string;
}

/** A stderr line that is not JSON (prompts, usage errors, python warnings). */
export interface TextLine {
  type: "text";
  line: string;
}

/** Everything the runner streams while borg runs. */
export type BorgEvent =
  | ArchiveProgress
  | ProgressPercent
  | ProgressMessage
  | FileStatus
  | LogMessage
  | QuestionEvent
  | TextLine;

const undefinedIfNull = <T,>(value: T | null | undefined): T | undefined => value ?? undefined;

/** Normalise one raw log line. */
export function toBorgEvent(raw: z.infer<typeof rawLogLineSchema>): BorgEvent {
  switch (raw.type) {
    case "archive_progress":
      return {
        type: raw.type,
        time: raw.time,
        finished: raw.finished,
        originalSize: raw.original_size,
        compressedSize: raw.compressed_size,
        deduplicatedSize: raw.deduplicated_size,
        nfiles: raw.nfiles,
        path: raw.path,
      };
    case "progress_percent":
      return {
        type: raw.type,
        operation: raw.operation,
        msgid: undefinedIfNull(raw.msgid),
        finished: raw.finished,
        message: undefinedIfNull(raw.message),
        current: undefinedIfNull(raw.current),
        total: undefinedIfNull(raw.total),
        time: raw.time,
      };
    case "progress_message":
      return {
        type: raw.type,
        operation: raw.operation,
        msgid: undefinedIfNull(raw.msgid),
        finished: raw.finished,
        message: undefinedIfNull(raw.message),
        time: raw.time,
      };
    case "file_status":
      return { type: raw.type, status: raw.status, path: raw.path };
    case "log_message":
      return {
        type: raw.type,
        time: raw.time,
        level: raw.levelname,
        logger: raw.name,
        message: raw.message,
        msgid: undefinedIfNull(raw.msgid),
      };
    default:
      return {
        type: "question",
        kind: raw.type,
        msgid: undefinedIfNull(raw.msgid),
        message: undefinedIfNull(raw.message),
      };
  }
}

function parseJsonEvent(text: string): BorgEvent | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = rawLogLineSchema.safeParse(json);
  return parsed.success ? toBorgEvent(parsed.data) : undefined;
}

/**
 * Parse one stderr line into events. A prompt written without a newline (borg asking for
 * a passphrase) can carry a JSON record glued to its end: both parts are returned. JSON
 * that matches no schema comes back as text rather than being dropped.
 */
export function parseLogLine(line: string): BorgEvent[] {
  const start = line.indexOf('{"');
  if (start >= 0) {
    const event = parseJsonEvent(line.slice(start).trim());
    if (event) {
      const before = line.slice(0, start).trim();
      return before.length > 0 ? [{ type: "text", line: before }, event] : [event];
    }
  }
  return [{ type: "text", line }];
}
