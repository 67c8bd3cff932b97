import type { LabFactory } from './types.js';

export const DNS_LAB: Record<string, LabFactory> = {};
