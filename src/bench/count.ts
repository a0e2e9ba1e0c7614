// Token counting figures for `npm run bench`: throughput on realistic chat text, and the worst
// event-loop lag while adversarial 1 MiB prompts are counted (budget: never more than 50 ms).
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { countText, loadEncodings } from '../metering/tokens';

const MiB = 1 << 20;

// Chat turns as people write them: English and Chinese prose, markdown, code, numbers, emoji.
const TURNS = [
  'Could you explain how the ledger settles a turn when the stream is cut off halfway?\n\n',
  '当然可以。账本会先按提示词的令牌数预留额度，然后在流结束时按实际用量结算，多余的部分会退回到余额。',
  "Here's a minimal example:\n```ts\nconst total = promptTokens + completionTokens; // e.g. 1,234 + 567\n```\n",
  '- First, reserve the prompt cost.\n- Then call the model with `max_tokens` shrunk to what you can afford.\n',
  '这个问题很好！如果用户中途点击“停止”，我们只收取已经生成的部分，以及完整的提示词费用。😀\n',
  'Thanks! One more thing: what happens on 2024-11-24T07:14:00Z if two tabs submit at once?\n',
  '两个标签页同时提交时，每个请求都有幂等键，所以重复提交不会被扣两次费用。\n\n',
];

export function chatText(bytes: number): string {
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i = (i + 3) % TURNS.length) {
    parts.push(TURNS[i]);
    size += Buffer.byteLength(TURNS[i]);
  }
  return parts.join('');
}

// The inputs tiktoken's quadratic BPE is slowest on: long runs with no pre-token boundary.
function adversarialTexts(): string[] {
  const cjk = Array.from({ length: MiB }, (_, i) => String.fromCharCode(0x4e00 + ((i * 7919) % 20000))).join('');
  const runs = ['a'.repeat(5000), cjk.slice(0, 5000), '7'.repeat(5000), ' '.repeat(5000), '!'.repeat(5000), '😀'.repeat(2500)];
  const mix = Array.from({ length: Math.ceil(MiB / 5000) }, (_, i) => runs[i % runs.length]).join('');
  return ['a'.repeat(MiB), cjk, mix];
}

async function mibPerSecond(text: string): Promise<number> {
  await countText(text.slice(0, 64 * 1024), 'o200k_base'); // warm up the JIT
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    const start = performance.now();
    await countText(text, 'o200k_base');
    best = Math.min(best, performance.now() - start);
  }
  return Buffer.byteLength(text) / MiB / (best / 1000);
}

async function maxLagMs(texts: string[]): Promise<number> {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  for (const text of texts) {
    for (const encoding of ['o200k_base', 'cl100k_base'] as const) await countText(text, encoding);
  }
  delay.disable();
  return delay.max / 1e6;
}

export async function benchCounting(): Promise<{ count_mib_per_s: number; count_max_lag_ms: number }> {
  loadEncodings(); // a start-up cost (~100 ms each), not a per-request one
  const count_mib_per_s = await mibPerSecond(chatText(MiB));
  const count_max_lag_ms = await maxLagMs(adversarialTexts());
  return { count_mib_per_s: Math.round(count_mib_per_s * 10) / 10, count_max_lag_ms: Math.round(count_max_lag_ms * 10) / 10 };
}
