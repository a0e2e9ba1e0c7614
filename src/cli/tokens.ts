// `tokenchat tokens count`: the prompt tokens of a chat-completions request read on stdin.
import type { Command } from 'commander';
import { CliError, config } from './common';
import { loadModels } from '../metering/models';
import { countPromptTokens, encodingForModel } from '../metering/tokens';

const STDIN_LIMIT = 64 * 1024 * 1024;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > STDIN_LIMIT) throw new CliError(`stdin is larger than ${STDIN_LIMIT / 1024 / 1024} MiB`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseRequest(text: string): { model?: unknown; messages: unknown[]; tools?: unknown[] } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new CliError(`stdin is not JSON: ${(err as Error).message}`);
  }
  const req = body as { model?: unknown; messages?: unknown; tools?: unknown };
  if (typeof body !== 'object' || body === null || !Array.isArray(req.messages)) {
    throw new CliError('stdin must be a chat-completions request: a JSON object with a "messages" array');
  }
  if (req.tools !== undefined && !Array.isArray(req.tools)) throw new CliError('"tools" must be an array when given');
  return req as { model?: unknown; messages: unknown[]; tools?: unknown[] };
}

export function tokenCommands(program: Command): void {
  program
    .command('tokens')
    .description('token counting')
    .command('count')
    .description('print the prompt tokens of a chat-completions request (JSON with messages, optional tools) read on stdin')
    .option('--model <id>', 'the model to count for (default: the request\'s "model")')
    .option('--json', 'print the count with its parts and the encoding as JSON')
    .action(async (opts: { model?: string; json?: boolean }) => {
      const request = parseRequest(await readStdin());
      const model = opts.model ?? (typeof request.model === 'string' ? request.model : undefined);
      if (!model) throw new CliError('say which model: --model <id>, or a "model" in the request');
      const catalog = loadModels(config().modelsFile);
      // A model in the models file is counted with the encoding it lists; any other by its family.
      const encoding = catalog.find(model)?.encoding ?? encodingForModel(model, catalog.defaultEncoding);
      const count = await countPromptTokens({ model, messages: request.messages, tools: request.tools }, { encoding });
      if (!opts.json) return console.log(String(count.total));
      console.log(JSON.stringify({ model, encoding, prompt_tokens: count.total, messages: count.messages, tools: count.tools, images: count.images }));
    });
}
