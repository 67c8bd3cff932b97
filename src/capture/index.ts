export { analyzeCapture, createAnalyzer, verdictOf } from './analyze.js';
export type { AnalyzeOptions, AnalyzeOutcome, Analyzer, ConnectionRecord, PcapResult, Pcts } from './analyze.js';
export { parseFilter } from './filter.js';
export type { PacketFilter } from './filter.js';
export { readCaptureFile, createChunkReader, detectFormat } from './reader.js';
export type { CaptureFormat, ReaderStats, PacketSink } from './reader.js';
export { zeekConnState, classifyConnection, ZEEK_STATES } from './classify.js';
export type { ZeekState, Phase } from './classify.js';
