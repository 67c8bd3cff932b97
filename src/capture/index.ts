/**
 * Capture analysis: which phase connections failed in, read from a pcap or
 * pcapng file. `analyzeCapture(path, { flows, filter, dnsPorts, onProgress })`
 * resolves to `{ ok: true, result }` (the contract's capture analysis) or
 * `{ ok: false, reason }` when the file has no valid capture header. Nothing
 * here prints, exits or reads the environment.
 */
export { analyzeCapture, createAnalyzer, verdictOf } from './analyze.js';
export type { AnalyzeOptions, AnalyzeOutcome, Analyzer, ConnectionRecord, PcapResult, Pcts } from './analyze.js';
export { parseFilter } from './filter.js';
export type { PacketFilter } from './filter.js';
export { readCaptureFile, createChunkReader, detectFormat } from './reader.js';
export type { CaptureFormat, ReaderStats, PacketSink } from './reader.js';
export { zeekConnState, classifyConnection, ZEEK_STATES } from './classify.js';
export type { ZeekState, Phase } from './classify.js';
