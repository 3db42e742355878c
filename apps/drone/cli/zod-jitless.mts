/**
 * zod without its compiled parsers, for the command line: imported first by program.mts,
 * before any schema is built (zod reads the setting as it builds one). Its compiled fast path
 * writes and compiles a function for every object schema at its first parse, which pays off
 * over many parses; a command parses each schema a few times, and that compiling cost
 * about 10 ms of a one-shot `create`'s start (docs/benchmarks.md, "Where the time goes").
 */
import { z } from "zod";

z.config({ jitless: true });
