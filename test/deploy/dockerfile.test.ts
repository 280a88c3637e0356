import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { access, cp, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  type Dockerfile,
  DockerfileParser,
  type Env as EnvInstruction,
  type Instruction,
  type ModifiableInstruction,
} from 'dockerfile-ast';
import { format, validate } from 'dockerfile-utils';
import { builtEntry } from '../support/built.js';
import { imageNodeLane } from '../support/lanes.js';

/*
 * The Dockerfile, checked without a Docker engine: dockerfile-utils (the validator of the Docker
 * language server) for what the builder would reject, best-practice rules of the kind hadolint
 * applies, and then the production layout itself, assembled the way the Dockerfile assembles it
 * (a clean production-only install, the compiled output, the files the runtime stage copies) and
 * started on the offline default until it is ready.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
const execFileAsync = promisify(execFile);

interface Stage {
  name: string;
  /** The FROM image with build arguments resolved, or the name of an earlier stage. */
  from: string;
  instructions: Instruction[];
}

function stagesOf(dockerfile: Dockerfile): Stage[] {
  const args = new Map(
    dockerfile.getInitialARGs().map((arg) => [arg.getProperty()!.getName(), arg.getProperty()!.getValue() ?? ''] as const),
  );
  const stages: Stage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const [image = '', as, name] = instruction.getArguments().map((argument) => argument.getValue());
      const from = image.replace(/\$\{(\w+)\}|\$(\w+)/g, (_match, braced?: string, bare?: string) => args.get(braced ?? bare ?? '') ?? '');
      stages.push({ name: as?.toUpperCase() === 'AS' && name ? name : String(stages.length), from, instructions: [] });
    } else if (stages.length > 0) {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return stages;
}

const keyword = (stage: Stage, name: string) => stage.instructions.filter((instruction) => instruction.getKeyword() === name);
const flag = (instruction: Instruction, name: string) =>
  (instruction as ModifiableInstruction).getFlags().find((candidate) => candidate.getName() === name)?.getValue() ?? undefined;
const json = (text: string): string[] => JSON.parse(text) as string[];
/** The stage a stage is built on, up to the first image that is not a stage. */
function ancestry(stage: Stage, stages: Stage[]): Stage[] {
  const parent = stages.find((candidate) => candidate.name === stage.from);
  return parent ? [stage, ...ancestry(parent, stages)] : [stage];
}
const rootImage = (stage: Stage, stages: Stage[]) => ancestry(stage, stages).at(-1)!.from;
const workdir = (stage: Stage, stages: Stage[]) =>
  ancestry(stage, stages)
    .flatMap((ancestor) => keyword(ancestor, 'WORKDIR'))
    .at(0)
    ?.getArgumentsContent() ?? '/';
function envOf(stage: Stage): Map<string, string> {
  return new Map(
    keyword(stage, 'ENV')
      .flatMap((instruction) => (instruction as EnvInstruction).getProperties())
      .map((property) => [property.getName(), property.getValue() ?? ''] as const),
  );
}
/** COPY sources and destination, without flags. */
function copyArguments(instruction: Instruction): { sources: string[]; destination: string } {
  const values = (instruction as ModifiableInstruction).getArguments().map((argument) => argument.getValue());
  return { sources: values.slice(0, -1), destination: values.at(-1)! };
}

describe('Dockerfile', () => {
  let text: string;
  let stages: Stage[];
  let runtime: Stage;

  before(async () => {
    text = await readFile(join(root, 'Dockerfile'), 'utf8');
    stages = stagesOf(DockerfileParser.parse(text));
    runtime = stages.at(-1)!;
  });

  it('has no problem the Docker language server validator reports, and is formatted as it formats', () => {
    const problems = validate(text).map(
      (problem) => `${problem.range.start.line + 1}: ${typeof problem.message === 'string' ? problem.message : problem.message.value}`,
    );
    assert.deepEqual(problems, []);
    const edits = format(text, { insertSpaces: true, tabSize: 2 }).map((edit) => `${edit.range.start.line + 1}: ${JSON.stringify(edit.newText)}`);
    assert.deepEqual(edits, []);
  });

  it('builds every stage on one pinned Node LTS slim image, so the native addon matches the Node that loads it', async () => {
    const images = new Set(stages.map((stage) => rootImage(stage, stages)));
    assert.equal(images.size, 1, `one base image for all stages: ${[...images].join(', ')}`);
    const [image = ''] = images;
    const match = /^node:(\d+)-[a-z]+-slim$/.exec(image);
    assert.ok(match, `${image}: an explicitly tagged Debian slim Node image`);
    const major = Number(match[1]);
    const { engines } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { engines: { node: string } };
    const minimum = Number(/(\d+)/.exec(engines.node)?.[1]);
    assert.ok(major % 2 === 0 && major >= minimum, `Node ${major}: an LTS line at or above engines.node ${engines.node}`);
    assert.equal(rootImage(runtime, stages), image);
    assert.equal(runtime.from, image, 'the runtime stage starts from the plain image, not from a build stage');
  });

  it('installs the compiler toolchain in build stages only, with apt lists removed in the same layer', () => {
    const installs = stages.flatMap((stage) =>
      keyword(stage, 'RUN')
        .map((instruction) => instruction.getArgumentsContent() ?? '')
        .filter((command) => /apt-get\s+install/.test(command))
        .map((command) => ({ stage, command })),
    );
    assert.ok(installs.length > 0);
    for (const { stage, command } of installs) {
      assert.notEqual(stage, runtime, 'no apt-get install in the runtime stage');
      assert.match(command, /apt-get\s+update\s+&&/, 'update and install in one layer');
      assert.match(command, /apt-get\s+install\s+-y\s+--no-install-recommends\s/);
      assert.match(command, /rm -rf \/var\/lib\/apt\/lists\/\*/);
    }
    const toolchain = installs.map(({ command }) => command).join(' ');
    for (const tool of ['python3', 'make', 'g++']) assert.ok(toolchain.split(/\s+/).includes(tool), `${tool} for node-gyp`);
    assert.ok(!ancestry(runtime, stages).some((stage) => installs.some((install) => install.stage === stage)));
  });

  it('copies into the runtime stage a production-only install and the compiled output, never the sources', () => {
    assert.deepEqual(stages.flatMap((stage) => keyword(stage, 'ADD')), [], 'COPY, not ADD');
    const commands = stages.flatMap((stage) => keyword(stage, 'RUN').map((instruction) => instruction.getArgumentsContent() ?? ''));
    assert.ok(!commands.some((command) => /\bnpm\s+(install|i)\b/.test(command)), 'npm ci, never npm install');
    const fromStages = keyword(runtime, 'COPY').filter((instruction) => flag(instruction, 'from'));
    const provider = (path: string) => {
      const copy = fromStages.find((instruction) => copyArguments(instruction).sources.some((source) => source.endsWith(path)));
      assert.ok(copy, `the runtime stage copies ${path} from a build stage`);
      return stages.find((stage) => stage.name === flag(copy, 'from'))!;
    };
    const modules = keyword(provider('/node_modules'), 'RUN').map((instruction) => instruction.getArgumentsContent() ?? '');
    assert.ok(modules.some((command) => /npm ci\b.*--omit=dev/.test(command)), 'node_modules comes from npm ci --omit=dev');
    const dist = keyword(provider('/dist'), 'RUN').map((instruction) => instruction.getArgumentsContent() ?? '');
    assert.ok(dist.includes('npm run build'), 'dist comes from npm run build');
    const fromContext = keyword(runtime, 'COPY')
      .filter((instruction) => !flag(instruction, 'from'))
      .flatMap((instruction) => copyArguments(instruction).sources);
    assert.deepEqual(fromContext.filter((source) => /^(src|test)\b|\.ts$/.test(source)), [], 'no TypeScript sources');
  });

  it('runs as a non-root user, with DATA_DIR a volume it owns, a HEALTHCHECK on /v1/health/live and exec-form CMD', () => {
    const env = envOf(runtime);
    assert.equal(env.get('HOST'), '0.0.0.0', 'reachable from other containers');
    const dataDir = env.get('DATA_DIR') ?? '';
    assert.match(dataDir, /^\/\w+/);
    const users = keyword(runtime, 'USER').map((instruction) => instruction.getArgumentsContent() ?? '');
    const user = users.at(-1) ?? 'root';
    assert.ok(!/^(root|0)(:|$)/.test(user), `final USER ${user}`);
    const volumes = keyword(runtime, 'VOLUME').flatMap((instruction) => json(instruction.getArgumentsContent() ?? ''));
    assert.deepEqual(volumes, [dataDir]);
    const runs = keyword(runtime, 'RUN').map((instruction) => instruction.getArgumentsContent() ?? '');
    assert.ok(runs.some((command) => command.includes(`chown ${user}:${user} ${dataDir}`)), `${dataDir} owned by ${user}`);
    assert.deepEqual(
      keyword(runtime, 'EXPOSE').map((instruction) => instruction.getArgumentsContent()),
      [env.get('PORT')],
    );
    const [healthcheck, ...more] = keyword(runtime, 'HEALTHCHECK');
    assert.ok(healthcheck && more.length === 0, 'one HEALTHCHECK');
    const probe = json((healthcheck.getArgumentsContent() ?? '').replace(/^CMD\s+/, ''));
    assert.ok(probe.join(' ').includes('/v1/health/live'));
    const [cmd] = keyword(runtime, 'CMD');
    assert.deepEqual(json(cmd?.getArgumentsContent() ?? ''), ['node', '--enable-source-maps', 'dist/server.js']);
  });

  it('sends the builder only the files it copies (.dockerignore is an allow-list)', async () => {
    const lines = (await readFile(join(root, '.dockerignore'), 'utf8'))
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    assert.equal(lines[0], '*', 'everything excluded first');
    const allowed = lines.slice(1).map((line) => {
      assert.ok(line.startsWith('!'), `${line}: only re-inclusions after "*"`);
      return line.slice(1).replace(/\/$/, '');
    });
    const copied = stages.flatMap((stage) =>
      keyword(stage, 'COPY')
        .filter((instruction) => !flag(instruction, 'from'))
        .flatMap((instruction) => copyArguments(instruction).sources.map((source) => source.replace(/^\.\//, '').replace(/\/$/, ''))),
    );
    assert.deepEqual([...new Set(allowed)].sort(), [...new Set(copied)].sort());
    for (const secret of ['.env', 'node_modules', 'data', 'dist', '.git']) assert.ok(!allowed.includes(secret), secret);
  });
});

interface RunningService {
  child: ChildProcess;
  port: number;
  output: () => string;
}

describe('production layout, built the way the Dockerfile builds it, started on the offline default', imageNodeLane, () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let stages: Stage[];
  let runtime: Stage;
  let service: RunningService | undefined;
  let probe: string[];
  const documentText =
    'The NIM model cache lives in a named volume mounted at /opt/nim/.cache. ' +
    'Mixtral 8x7B Instruct needs about 88 GB of GPU memory, so two GPUs on most cards.';

  /** The environment the runtime stage gives the process, bound to loopback on a free port here. */
  const environment = (): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    ...Object.fromEntries(envOf(runtime)),
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dataDir,
  });

  async function start(): Promise<RunningService> {
    const [command = '', ...args] = json(keyword(runtime, 'CMD')[0]!.getArgumentsContent() ?? '');
    const child = spawn(command === 'node' ? process.execPath : command, args, {
      cwd: app,
      env: environment(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "Server listening" within 30 s:\n${output}`)), 30_000);
      const onData = () => {
        const listening = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
        if (!listening) return;
        clearTimeout(timer);
        child.stdout.off('data', onData);
        resolve(Number(listening[1]));
      };
      child.stdout.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`exited with ${code} before listening:\n${output}`));
      });
    });
    child.removeAllListeners('exit');
    return { child, port, output: () => output };
  }

  async function stop(running: RunningService): Promise<number | null> {
    const exited = once(running.child, 'exit') as Promise<[number | null]>;
    running.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`still running 15 s after SIGTERM:\n${running.output()}`)), 15_000);
    });
    try {
      const [code] = await Promise.race([exited, timeout]);
      return code;
    } finally {
      clearTimeout(timer);
    }
  }

  async function healthcheck(port: number): Promise<number> {
    const [command = '', ...args] = probe;
    try {
      await execFileAsync(command === 'node' ? process.execPath : command, args, {
        env: { PATH: process.env.PATH, PORT: String(port) },
        timeout: 10_000,
      });
      return 0;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      return typeof code === 'number' ? code : -1;
    }
  }

  const url = (path: string) => `http://127.0.0.1:${service!.port}${path}`;
  const post = (path: string, body: unknown) =>
    fetch(url(path), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  before(
    async () => {
      stages = stagesOf(DockerfileParser.parse(await readFile(join(root, 'Dockerfile'), 'utf8')));
      runtime = stages.at(-1)!;
      probe = json((keyword(runtime, 'HEALTHCHECK')[0]!.getArgumentsContent() ?? '').replace(/^CMD\s+/, ''));
      work = await mkdtemp(join(tmpdir(), 'rag-image-'));
      app = join(work, 'app');
      dataDir = join(work, 'data');
      await mkdir(dataDir);

      // Where each stage's WORKDIR lands here; the runtime stage's is the app directory.
      const stageDirs = new Map<string, string>();
      const stageDir = (stage: Stage) => {
        if (stage === runtime) return app;
        if (!stageDirs.has(stage.name)) stageDirs.set(stage.name, join(work, 'stages', stage.name));
        return stageDirs.get(stage.name)!;
      };
      const { workspaces } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { workspaces: string[] };
      assert.deepEqual(workspaces, ['packages/*']);
      const packages = (await readdir(join(root, 'packages'))).map((name) => join('packages', name));

      /**
       * Reproduces a stage: its COPYs from the build context, then its RUN commands (not those of
       * its base stages, which set up the image's system). Only commands known to be harmless on
       * this machine are run; anything else fails here rather than running blind.
       */
      const build = async (stage: Stage): Promise<void> => {
        const dir = stageDir(stage);
        await mkdir(dir, { recursive: true });
        for (const instruction of keyword(stage, 'COPY').filter((copy) => !flag(copy, 'from'))) {
          const { sources, destination } = copyArguments(instruction);
          for (const source of sources) {
            const target = destination.endsWith('/') ? join(dir, destination, basename(source)) : join(dir, destination);
            await cp(join(root, source), target, { recursive: true });
          }
        }
        // The runtime stage's own RUNs change the image's system (users, /data, npm removal): the
        // tests above check them; they must not run on this machine.
        if (stage === runtime) return;
        for (const instruction of keyword(stage, 'RUN')) {
          const command = instruction.getArgumentsContent() ?? '';
          if (command === 'npm run build') {
            // The project's own build, run in the checkout (test/support/built.ts, once for every test that
            // needs it), and what it writes copied into the stage: the service's dist/ with the bundled
            // playground, and the workspace package's dist/ that the service imports.
            await builtEntry('server.js');
            const outputs = ['dist', ...packages.map((workspace) => join(workspace, 'dist'))];
            for (const output of outputs) {
              await cp(join(root, output), join(dir, output), { recursive: true });
            }
          } else if (/^npm ci\b/.test(command) && !command.includes('--omit=dev')) {
            // The full install only feeds `npm run build`, which compiles from the checkout above.
          } else {
            const steps = command.split(/\s+&&\s+/);
            const harmless = steps.every((step) => /^npm ci --omit=dev( --[a-z-]+)*$/.test(step) || /^node -e "[^"]*"$/.test(step));
            assert.ok(harmless, `this test does not know how to reproduce RUN ${command} (stage ${stage.name})`);
            // From npm's cache when it holds the packages, as a builder with a warm cache mount would.
            await execFileAsync('sh', ['-c', command], { cwd: dir, timeout: 300_000, env: { ...process.env, npm_config_prefer_offline: 'true' } });
          }
        }
      };

      const copiesFromStages = keyword(runtime, 'COPY').filter((copy) => flag(copy, 'from'));
      for (const copy of copiesFromStages) {
        const stage = stages.find((candidate) => candidate.name === flag(copy, 'from'))!;
        if (!stageDirs.has(stage.name)) await build(stage);
      }
      await build(runtime);
      for (const copy of copiesFromStages) {
        const stage = stages.find((candidate) => candidate.name === flag(copy, 'from'))!;
        const base = workdir(stage, stages);
        const { sources, destination } = copyArguments(copy);
        for (const source of sources) {
          assert.ok(source.startsWith(`${base}/`), `${source} lies under the stage's WORKDIR ${base}`);
          // As COPY does, links stay as they are (npm links the workspace package with a relative one).
          await cp(join(stageDir(stage), source.slice(base.length + 1)), join(app, destination), { recursive: true, verbatimSymlinks: true });
        }
      }
    },
    { timeout: 420_000 },
  );

  after(async () => {
    if (service && service.child.exitCode === null && service.child.signalCode === null) service.child.kill('SIGKILL');
    await rm(work, { recursive: true, force: true });
  });

  it('holds exactly the production dependencies of package-lock.json, and no TypeScript sources', async () => {
    const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean; peer?: boolean }>;
    };
    const exists = (path: string) =>
      access(join(app, path)).then(
        () => true,
        () => false,
      );
    const unexpected: string[] = [];
    const missing: string[] = [];
    for (const [path, entry] of Object.entries(lock.packages)) {
      if (!path.startsWith('node_modules/')) continue;
      const present = await exists(path);
      if (entry.dev && present) unexpected.push(path);
      if (!entry.dev && !entry.optional && !entry.devOptional && !entry.peer && !present) missing.push(path);
    }
    assert.deepEqual(unexpected, [], 'dev dependencies in the image');
    assert.deepEqual(missing, [], 'production dependencies missing from the image');
    assert.equal(await exists('node_modules/typescript/package.json'), false);
    const top = await readdir(app);
    assert.deepEqual(top.filter((name) => /^(src|test|bench)$|^tsconfig|\.ts$/.test(name)), [], 'sources in the image');
    assert.ok(top.includes('dist') && (await exists('dist/server.js')));
  });

  it('starts and answers /v1/health/ready with 200 on the offline default', { timeout: 60_000 }, async () => {
    service = await start();
    let response: Response | undefined;
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
      response = await fetch(url('/v1/health/ready')).catch(() => undefined);
      if (response?.status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.equal(response?.status, 200, service.output());
    const readiness = (await response.json()) as { status: string; offline: boolean; providers: Record<string, { provider: string }> };
    assert.equal(readiness.status, 'ready');
    assert.equal(readiness.offline, true);
    assert.deepEqual([readiness.providers.embeddings?.provider, readiness.providers.llm?.provider], ['local', 'local']);
  });

  it('passes the Dockerfile HEALTHCHECK while up', async () => {
    assert.equal(await healthcheck(service!.port), 0, service!.output());
  });

  it('serves the bundled playground at / with the scripts and styles it names', async () => {
    const page = await fetch(url('/'));
    assert.equal(page.status, 200);
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="(playground\/[^"]+)"/g)].map((match) => match[1]!);
    assert.equal(assets.length, 2, html);
    for (const asset of assets) assert.equal((await fetch(url(`/${asset}`))).status, 200, asset);
  });

  it('ingests and answers through the compiled hnswlib-node addon', async () => {
    const ingest = await post('/v1/documents', { documents: [{ id: 'deploy-check', text: documentText }] });
    assert.equal(ingest.status, 201, await ingest.clone().text());
    const ask = await post('/v1/ask', { question: 'Where does the NIM model cache live?' });
    assert.equal(ask.status, 200, await ask.clone().text());
    const answer = (await ask.json()) as { answer: string; sources: { id: string }[]; model: string };
    assert.equal(answer.sources[0]?.id, 'deploy-check');
    assert.match(answer.answer, /\/opt\/nim\/\.cache/);
  });

  it('stops cleanly on SIGTERM, logging JSON lines, and its HEALTHCHECK then fails', { timeout: 30_000 }, async () => {
    const running = service!;
    assert.equal(await stop(running), 0, running.output());
    const lines = running.output().trim().split('\n');
    for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), `not a JSON log line: ${line}`);
    assert.ok(lines.some((line) => (JSON.parse(line) as { signal?: string }).signal === 'SIGTERM'));
    assert.notEqual(await healthcheck(running.port), 0);
  });

  it('keeps what it acknowledged across a restart on the same DATA_DIR', { timeout: 60_000 }, async () => {
    service = await start();
    const response = await fetch(url('/v1/documents/deploy-check'));
    assert.equal(response.status, 200, service.output());
    assert.equal(((await response.json()) as { text: string }).text, documentText);
    assert.equal(await stop(service), 0, service.output());
  });
});
