import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Ajv } from 'ajv';
import { DCLinter } from 'dclint';
import { DockerfileParser, type Env as EnvInstruction } from 'dockerfile-ast';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, HOSTED_CATALOG_URL, loadConfig } from '../../src/config.js';
import { DEFAULT_EMBEDDINGS_MODEL, DEFAULT_RERANK_MODEL } from '@nim-rag/langchain-nvidia';
import { machineNodeLane } from '../support/lanes.js';

/*
 * docker-compose.yml (RAG service + self-hosted NIMs) and docker-compose.hosted.yml (hosted API
 * catalog), checked without a Docker engine: the Compose Specification schema and dclint's rules,
 * then what Compose would actually hand each container once it has interpolated .env.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(root, 'docker-compose.yml');
const HOSTED = join(root, 'docker-compose.hosted.yml');
const PGVECTOR = join(root, 'docker-compose.pgvector.yml');
const COMPOSE_SCHEMA = join(root, 'node_modules/dclint/schemas/compose.schema.json');
const NIM_SERVICES = ['nim-embed', 'nim-llm', 'nim-rerank'] as const;
const NIM_CACHE = '/opt/nim/.cache';
/** Read by the docker compose command itself rather than interpolated in a file. */
const COMPOSE_CLI_VARIABLES = ['COMPOSE_FILE', 'COMPOSE_PROFILES'];
/** Keys a user would put in .env; the example leaves them empty. */
const TEST_KEYS = { NGC_API_KEY: 'nvapi-ngc-test', NVIDIA_API_KEY: 'nvapi-catalog-test', POSTGRES_PASSWORD: 'pg-test-password' };

type Env = Record<string, string | undefined>;
type Service = Record<string, any>;
interface ComposeFile {
  name?: string;
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

class InterpolationError extends Error {}

/**
 * Compose's variable interpolation: $$, $NAME, ${NAME}, ${NAME:-default}, ${NAME-default},
 * ${NAME:?error}, ${NAME?error}, ${NAME:+alternative}, ${NAME+alternative}. Nested
 * expressions are not used in these files and are rejected rather than misread.
 */
function interpolate(text: string, env: Env, seen?: Set<string>): string {
  return text.replace(/\$\$|\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (match, braced?: string, bare?: string) => {
    if (match === '$$') return '$';
    if (bare !== undefined) {
      seen?.add(bare);
      return env[bare] ?? '';
    }
    const parts = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([\s\S]*))?$/.exec(braced ?? '');
    if (!parts || parts[3]?.includes('$')) throw new Error(`unsupported interpolation ${match}`);
    const [, name = '', operator, argument = ''] = parts;
    seen?.add(name);
    const value = env[name];
    const unset = value === undefined;
    const unsetOrEmpty = unset || value === '';
    switch (operator) {
      case undefined:
        return value ?? '';
      case ':-':
        return unsetOrEmpty ? argument : value;
      case '-':
        return unset ? argument : value;
      case ':?':
      case '?':
        if (operator === ':?' ? unsetOrEmpty : unset) throw new InterpolationError(`${name}: ${argument}`);
        return value ?? '';
      case ':+':
        return unsetOrEmpty ? '' : argument;
      default:
        return unset ? '' : argument;
    }
  });
}

/** Interpolates every string value (Compose does not interpolate keys). */
function interpolateDeep<T>(value: T, env: Env, seen?: Set<string>): T {
  if (typeof value === 'string') return interpolate(value, env, seen) as T;
  if (Array.isArray(value)) return value.map((item: unknown) => interpolateDeep(item, env, seen)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolateDeep(item, env, seen)])) as T;
  }
  return value;
}

/** The variables a compose file reads, as Compose sees them (comments are not interpolated). */
function referencedVariables(file: ComposeFile): Set<string> {
  const seen = new Set<string>();
  const permissive = new Proxy({}, { get: () => 'x' }) as Env;
  interpolateDeep(file, permissive, seen);
  return seen;
}

/** .env syntax: NAME=value lines set a variable; "# NAME=value" lines document an optional one. */
function parseDotEnv(text: string): { set: Map<string, string>; documented: Map<string, string> } {
  const set = new Map<string, string>();
  const documented = new Map<string, string>();
  for (const line of text.split('\n')) {
    const assignment = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (assignment) {
      assert.ok(!set.has(assignment[1]!), `.env.example sets ${assignment[1]} twice`);
      set.set(assignment[1]!, assignment[2]!);
      continue;
    }
    const optional = /^#\s?([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (optional) documented.set(optional[1]!, optional[2]!);
  }
  return { set, documented };
}

function durationSeconds(text: string): number {
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
  assert.equal(parts.map((part) => part[0]).join(''), text, `not a Compose duration: ${text}`);
  return parts.reduce((total, [, amount, unit]) => total + Number(amount) * units[unit!]!, 0);
}

function environmentOf(service: Service): Record<string, string> {
  assert.ok(
    service.environment && typeof service.environment === 'object' && !Array.isArray(service.environment),
    'environment is written as a mapping',
  );
  return service.environment as Record<string, string>;
}

function unknownVariables(names: Iterable<string>): string[] {
  return [...names].filter((name) => !CONFIG_VARIABLES.includes(name)).sort();
}

/** A NIM image's repository path names its model, with the dots of the version dropped (v0.1 → v01). */
function imageModel(image: string): string {
  const match = /^nvcr\.io\/nim\/([^:@]+)[:@]/.exec(image);
  assert.ok(match, `${image} is a versioned NIM image from nvcr.io/nim`);
  return match[1]!;
}
const sameModel = (image: string, model: string) => imageModel(image).replaceAll('.', '') === model.replaceAll('.', '');

const execFileAsync = promisify(execFile);
async function exitCode(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  try {
    await execFileAsync(file, args, { env, timeout: 20_000 });
    return 0;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'number' ? code : -1;
  }
}

async function which(command: string): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync('sh', ['-c', `command -v ${command}`]);
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

describe('docker compose files', machineNodeLane, () => {
  let main: ComposeFile;
  let hosted: ComposeFile;
  let scaled: ComposeFile;
  let dotEnv: ReturnType<typeof parseDotEnv>;
  /** What `cp .env.example .env` plus the two keys gives Compose. */
  let env: Env;
  let dockerfileEnv: Map<string, string>;

  before(async () => {
    main = parse(await readFile(MAIN, 'utf8')) as ComposeFile;
    hosted = parse(await readFile(HOSTED, 'utf8')) as ComposeFile;
    scaled = parse(await readFile(PGVECTOR, 'utf8')) as ComposeFile;
    dotEnv = parseDotEnv(await readFile(join(root, '.env.example'), 'utf8'));
    env = { ...Object.fromEntries(dotEnv.set), ...TEST_KEYS };
    const dockerfile = DockerfileParser.parse(await readFile(join(root, 'Dockerfile'), 'utf8'));
    const stages = dockerfile.getFROMs();
    const runtimeStart = stages.at(-1)!.getRange().start.line;
    dockerfileEnv = new Map(
      dockerfile
        .getENVs()
        .filter((instruction) => instruction.getRange().start.line > runtimeStart)
        .flatMap((instruction: EnvInstruction) => instruction.getProperties())
        .map((property) => [property.getName(), property.getValue() ?? ''] as const),
    );
  });

  it('pass dclint with every rule on, its Compose Specification schema validation included', () => {
    const linter = new DCLinter({ rules: {}, quiet: false, debug: false, exclude: [] });
    const results = linter.lintFiles([MAIN, HOSTED, PGVECTOR], false) as { filePath: string; messages: any[] }[];
    assert.equal(results.length, 3);
    for (const result of results) {
      const problems = result.messages.map((message) => `${message.line}: ${message.message} (${message.rule})`);
      assert.deepEqual(problems, [], `dclint on ${result.filePath}`);
    }
  });

  it('embed with the model that `NVIDIA_API_KEY=… npm start` uses, so one store serves every way of running', () => {
    for (const [file, document] of [
      ['docker-compose.yml', main],
      ['docker-compose.hosted.yml', hosted],
    ] as const) {
      assert.equal(interpolateDeep(environmentOf(document.services.rag!), env).NIM_EMBEDDINGS_MODEL, DEFAULT_EMBEDDINGS_MODEL, file);
      assert.equal(interpolateDeep(environmentOf(document.services.rag!), TEST_KEYS).NIM_EMBEDDINGS_MODEL, DEFAULT_EMBEDDINGS_MODEL, `${file} without .env`);
    }
  });

  it('are valid Compose files once .env.example is interpolated, and refuse to start without their key', async () => {
    const ajv = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true, validateSchema: false });
    const validate = ajv.compile(JSON.parse(await readFile(COMPOSE_SCHEMA, 'utf8')) as object);
    for (const [file, document] of [
      [MAIN, main],
      [HOSTED, hosted],
      [PGVECTOR, scaled],
    ] as const) {
      const interpolated = interpolateDeep(document, env);
      assert.ok(validate(interpolated), `${file}: ${ajv.errorsText(validate.errors)}`);
    }
    // .env.example leaves the keys empty: Compose stops with a message naming the missing one.
    const withoutKeys = Object.fromEntries(dotEnv.set);
    assert.throws(() => interpolateDeep(main, withoutKeys), /^Error: NGC_API_KEY: set NGC_API_KEY/);
    assert.throws(() => interpolateDeep(hosted, withoutKeys), /^Error: NVIDIA_API_KEY: set NVIDIA_API_KEY/);
    assert.throws(() => interpolateDeep(scaled, withoutKeys), /^Error: POSTGRES_PASSWORD: set POSTGRES_PASSWORD/);
  });

  it('set on the service only variables it reads (a typo would be silently ignored)', () => {
    for (const [file, document] of [
      ['docker-compose.yml', main],
      ['docker-compose.hosted.yml', hosted],
      ['docker-compose.pgvector.yml', scaled],
    ] as const) {
      const names = Object.keys(environmentOf(document.services.rag!));
      assert.deepEqual(unknownVariables(names), [], `${file}: rag sets variables src/config.ts does not read`);
    }
    assert.deepEqual(
      unknownVariables([...dockerfileEnv.keys()].filter((name) => name !== 'NODE_ENV')),
      [],
      'Dockerfile ENV of the runtime stage',
    );
  });

  it('let every setting of the service be configured (passed through, or fixed by the Dockerfile)', () => {
    for (const [file, document, leftOut] of [
      ['docker-compose.yml', main, []],
      // hosted mode is the absence of a NIM URL
      ['docker-compose.hosted.yml', hosted, ['NIM_EMBEDDINGS_URL', 'NIM_LLM_URL']],
      ['docker-compose.pgvector.yml', scaled, []],
    ] as const) {
      const configurable = new Set([...Object.keys(environmentOf(document.services.rag!)), ...dockerfileEnv.keys(), ...leftOut]);
      const missing = CONFIG_VARIABLES.filter((name) => !configurable.has(name));
      assert.deepEqual(missing, [], `${file}: add these to the rag service's environment and to .env.example`);
    }
  });

  it('document in .env.example exactly the variables the compose files read', () => {
    const read = new Set([...referencedVariables(main), ...referencedVariables(hosted), ...referencedVariables(scaled), ...COMPOSE_CLI_VARIABLES]);
    const documented = new Set([...dotEnv.set.keys(), ...dotEnv.documented.keys()]);
    assert.deepEqual([...read].filter((name) => !documented.has(name)).sort(), [], 'read but not in .env.example');
    assert.deepEqual([...documented].filter((name) => !read.has(name)).sort(), [], 'in .env.example but read by no compose file');
  });

  it('give .env.example values and examples the service accepts', () => {
    const base = { ...interpolateDeep(environmentOf(main.services.rag!), env), ...Object.fromEntries(dockerfileEnv) };
    const serviceSettings = [...dotEnv.set, ...dotEnv.documented].filter(([name]) => CONFIG_VARIABLES.includes(name));
    assert.ok(serviceSettings.length >= 10, 'the service settings are documented');
    for (const [name, value] of serviceSettings) {
      assert.doesNotThrow(() => loadConfig({ ...base, [name]: value }), `${name}=${value}`);
    }
  });

  it('configure the service for the local NIMs, a volume at DATA_DIR and all interfaces inside the container', () => {
    const rag = interpolateDeep(main.services.rag!, env);
    const config = loadConfig({ ...Object.fromEntries(dockerfileEnv), ...environmentOf(rag) });
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.dataDir, '/data');
    assert.deepEqual(rag.volumes, [`rag-data:${config.dataDir}`]);
    assert.ok(main.volumes && 'rag-data' in main.volumes, 'rag-data is a named volume');
    assert.deepEqual(
      rag.ports.map((port: any) => ({ ...port, target: Number(port.target) })),
      [{ target: config.port, published: '8080', host_ip: '127.0.0.1', protocol: 'tcp' }],
    );
    assert.ok(durationSeconds(rag.stop_grace_period) >= 15, 'time to flush the store on SIGTERM');
    assert.deepEqual(rag.depends_on, {
      'nim-embed': { condition: 'service_healthy' },
      'nim-llm': { condition: 'service_healthy' },
      'nim-rerank': { condition: 'service_healthy', required: false },
    });
    assert.equal(config.embeddings.provider, 'nim');
    assert.equal(config.llm.provider, 'nim');
    if (config.embeddings.provider !== 'nim' || config.llm.provider !== 'nim') return;
    assert.deepEqual(
      [config.embeddings.url, config.embeddings.hosted, config.embeddings.model],
      ['http://nim-embed:8000/v1', false, 'nvidia/nv-embedqa-e5-v5'],
    );
    assert.deepEqual(
      [config.llm.url, config.llm.hosted, config.llm.model],
      ['http://nim-llm:8000/v1', false, 'mistralai/mixtral-8x7b-instruct-v0.1'],
    );
  });

  it('in hosted mode configure the service for the API catalog, with the same model names', () => {
    const rag = interpolateDeep(hosted.services.rag!, env);
    const config = loadConfig({ ...Object.fromEntries(dockerfileEnv), ...environmentOf(rag) });
    assert.deepEqual(Object.keys(hosted.services), ['rag'], 'no local NIM');
    assert.equal(config.embeddings.provider, 'nim');
    assert.equal(config.llm.provider, 'nim');
    if (config.embeddings.provider !== 'nim' || config.llm.provider !== 'nim') return;
    for (const endpoint of [config.embeddings, config.llm]) {
      assert.deepEqual([endpoint.url, endpoint.hosted, endpoint.apiKey], [HOSTED_CATALOG_URL, true, TEST_KEYS.NVIDIA_API_KEY]);
    }
    assert.equal(config.embeddings.model, 'nvidia/nv-embedqa-e5-v5', 'same embedding space as the self-hosted NIM');
    assert.equal(config.llm.model, 'mistralai/mixtral-8x7b-instruct-v0.1');
  });

  it('keep the hosted rag service identical to the self-hosted one but for NIM URLs, dependencies and key', () => {
    assert.equal(hosted.name, main.name, 'same project, hence the same data volume');
    assert.deepEqual(Object.keys(hosted.volumes ?? {}), ['rag-data']);
    const strip = (service: Service) => {
      const copy = structuredClone(service);
      delete copy.depends_on;
      for (const name of ['NIM_EMBEDDINGS_URL', 'NIM_LLM_URL', 'NVIDIA_API_KEY']) delete copy.environment[name];
      return copy;
    };
    assert.deepEqual(strip(hosted.services.rag!), strip(main.services.rag!));
  });

  it('scale out: replicas on one pgvector database that must be healthy first, behind a balancer checking readiness', async () => {
    const services = interpolateDeep(scaled.services, env);
    const { db, rag, proxy } = services;
    assert.match(db!.image, /^pgvector\/pgvector:/);
    assert.equal(db!.healthcheck.test[0], 'CMD-SHELL');
    assert.match(db!.healthcheck.test[1], /^pg_isready /);
    assert.deepEqual(db!.volumes, ['pg-data:/var/lib/postgresql/data']);
    assert.ok(scaled.volumes && 'pg-data' in scaled.volumes, 'the database lives on a named volume');
    assert.deepEqual(rag!.depends_on, { db: { condition: 'service_healthy' } });
    assert.ok(Number(rag!.deploy.replicas) >= 2, 'several replicas');
    assert.equal(rag!.ports, undefined, 'replicas are reached through the balancer only');
    assert.equal(rag!.volumes, undefined, 'replicas keep no state of their own');
    // The image declares DATA_DIR a volume: without a mount there, Docker would give each replica an anonymous one.
    assert.deepEqual(rag!.tmpfs, ['/tmp', dockerfileEnv.get('DATA_DIR')], 'scratch only: staged uploads in /tmp, nothing at DATA_DIR');
    const config = loadConfig({ ...Object.fromEntries(dockerfileEnv), ...environmentOf(rag!) });
    assert.equal(config.vectorStore, 'pgvector');
    assert.equal(config.database?.url, `postgres://rag:${TEST_KEYS.POSTGRES_PASSWORD}@db:5432/rag`);
    const dbEnv = environmentOf(db!);
    assert.deepEqual([dbEnv.POSTGRES_USER, dbEnv.POSTGRES_DB, dbEnv.POSTGRES_PASSWORD], ['rag', 'rag', TEST_KEYS.POSTGRES_PASSWORD]);
    assert.match(proxy!.image, /^haproxy:/);
    const [mount] = proxy!.volumes as string[];
    const [source] = mount!.split(':');
    const haproxy = await readFile(join(root, source!), 'utf8');
    assert.match(haproxy, /option httpchk GET \/v1\/health\/ready/);
    assert.match(haproxy, /http-check expect status 200/);
    assert.match(haproxy, /server-template rag (\d+) rag:(\d+)/);
    const [, slots, port] = /server-template rag (\d+) rag:(\d+)/.exec(haproxy)!;
    assert.equal(Number(port), config.port, 'the balancer reaches the port the service listens on');
    assert.ok(Number(slots) >= Number(rag!.deploy.replicas), 'a slot per replica');
    assert.match(haproxy, /bind :(\d+)/);
    assert.equal(Number(/bind :(\d+)/.exec(haproxy)![1]), Number(proxy!.ports[0].target));
  });

  it('run each NIM image with the model the service asks for', () => {
    const rag = interpolateDeep(main.services.rag!, env);
    const withDefaults = interpolateDeep(main.services, TEST_KEYS);
    const ragDefaults = environmentOf(withDefaults.rag!);
    for (const [nim, modelVariable] of [
      ['nim-embed', 'NIM_EMBEDDINGS_MODEL'],
      ['nim-llm', 'NIM_LLM_MODEL'],
    ] as const) {
      // with .env.example, and with no .env at all (the defaults written in the compose file)
      const image = interpolateDeep(main.services[nim]!, env).image as string;
      const model = environmentOf(rag)[modelVariable]!;
      assert.ok(sameModel(image, model), `${nim}: image ${image} does not serve ${model}`);
      const defaultImage = withDefaults[nim]!.image as string;
      assert.ok(sameModel(defaultImage, ragDefaults[modelVariable]!), `${nim} defaults: ${defaultImage}`);
      assert.equal(defaultImage, image, `.env.example repeats the compose default for ${nim}`);
    }
  });

  it('run the reranking NIM only with the rerank profile, serving the model the service reranks with, at the URL the example gives', () => {
    const withDefaults = interpolateDeep(main.services, TEST_KEYS);
    const rerank = interpolateDeep(main.services['nim-rerank']!, env);
    assert.deepEqual(rerank.profiles, ['rerank']);
    for (const [name, service] of Object.entries(main.services)) {
      if (name !== 'nim-rerank') assert.equal(service.profiles, undefined, `${name} runs without a profile`);
    }
    assert.ok(sameModel(rerank.image as string, DEFAULT_RERANK_MODEL), `image ${rerank.image as string} serves ${DEFAULT_RERANK_MODEL}`);
    assert.equal(withDefaults['nim-rerank']!.image, rerank.image, '.env.example repeats the compose default');
    const documented = (name: string) => dotEnv.documented.get(name);
    assert.equal(documented('RERANK_MODEL'), DEFAULT_RERANK_MODEL);
    assert.equal(documented('NIM_RERANK_URL'), 'http://nim-rerank:8000/v1');
    assert.equal(documented('COMPOSE_PROFILES'), 'rerank');
    const config = loadConfig({ ...Object.fromEntries(dockerfileEnv), ...environmentOf(interpolateDeep(main.services.rag!, { ...env, NIM_RERANK_URL: documented('NIM_RERANK_URL') })) });
    assert.equal(config.rerank?.url, 'http://nim-rerank:8000/v1');
  });

  it('give each NIM a GPU reservation, shared memory, a cache volume and its NGC key', () => {
    const services = interpolateDeep(main.services, env);
    const gpuIds: string[] = [];
    for (const name of NIM_SERVICES) {
      const nim = services[name]!;
      const devices = nim.deploy?.resources?.reservations?.devices as any[];
      assert.equal(devices?.length, 1, `${name}: one device request`);
      const [request] = devices;
      assert.equal(request.driver, 'nvidia');
      assert.deepEqual(request.capabilities, ['gpu']);
      assert.equal(request.count, undefined, 'device_ids, not count');
      assert.ok(request.device_ids.length >= 1);
      for (const id of request.device_ids) assert.match(id, /^(\d+|GPU-[0-9a-f-]+)$/, `${name}: one GPU id per entry`);
      gpuIds.push(...request.device_ids);
      assert.equal(nim.shm_size, '16gb');
      assert.equal(environmentOf(nim).NGC_API_KEY, TEST_KEYS.NGC_API_KEY);
      const [cache] = (nim.volumes as string[]).filter((volume) => volume.endsWith(`:${NIM_CACHE}`));
      assert.ok(cache && main.volumes && cache.split(':')[0]! in main.volumes, `${name}: a named cache volume at ${NIM_CACHE}`);
    }
    assert.equal(services['nim-llm']!.deploy.resources.reservations.devices[0].device_ids.length, 2, 'Mixtral 8x7B: two GPUs');
    assert.equal(new Set(gpuIds).size, gpuIds.length, 'the NIMs do not share a GPU by default');
  });

  it('hand the NIM caches to the user the NIMs run as before they start', () => {
    const services = interpolateDeep(main.services, { ...env, NIM_UID: '4242', NIM_GID: '77' });
    const init = services['nim-cache-init']!;
    assert.equal(init.user, '0:0', 'chown needs root');
    assert.equal(init.restart, 'no');
    const script = (init.command as string[]).join(' ');
    const initMounts = new Map((init.volumes as string[]).map((volume) => volume.split(':') as [string, string]));
    for (const name of NIM_SERVICES) {
      const nim = services[name]!;
      assert.equal(nim.user, '4242:77', `${name} runs as NIM_UID:NIM_GID`);
      assert.deepEqual(nim.depends_on, { 'nim-cache-init': { condition: 'service_completed_successfully' } });
      const cacheVolume = (nim.volumes as string[]).find((volume) => volume.endsWith(`:${NIM_CACHE}`))!.split(':')[0]!;
      const mountedAt = initMounts.get(cacheVolume);
      assert.ok(mountedAt, `nim-cache-init mounts ${cacheVolume}`);
      assert.match(script, new RegExp(`chown -R 4242:77 [^&]*${mountedAt}( |$)`), `${cacheVolume} is chowned`);
    }
  });

  it('check NIM readiness with a start period long enough for the first model download', () => {
    for (const name of NIM_SERVICES) {
      const { healthcheck } = main.services[name]!;
      assert.equal(healthcheck.test[0], 'CMD-SHELL');
      assert.match(healthcheck.test[1], /^curl -f\S* .*http:\/\/localhost:8000\/v1\/health\/ready/);
      assert.ok(durationSeconds(healthcheck.start_period) >= 15 * 60, `${name}: start_period ${healthcheck.start_period}`);
      assert.ok(durationSeconds(healthcheck.timeout) < durationSeconds(healthcheck.interval));
    }
    assert.ok(durationSeconds(main.services['nim-llm']!.healthcheck.start_period) >= 45 * 60, 'tens of GB to download');
  });

  describe('NIM healthcheck command, run against a stand-in NIM', () => {
    let server: Server;
    let status = 503;
    let url: string;
    let noCurlPath: string;
    let curl: string | undefined;
    let python: string | undefined;

    before(async () => {
      server = createServer((request, response) => {
        response.writeHead(request.url === '/v1/health/ready' ? status : 404, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ object: 'health-response', message: status === 200 ? 'Service is ready.' : 'loading' }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      curl = await which('curl');
      const interpreter = await which('python3');
      if (interpreter) {
        const { stdout } = await execFileAsync(interpreter, ['-c', 'import sys; print(sys.executable)']);
        python = stdout.trim();
      }
      // A PATH with python3 and no curl, as in an image that lacks curl.
      noCurlPath = await mkdtemp(join(tmpdir(), 'rag-nocurl-'));
      if (python) await symlink(python, join(noCurlPath, 'python3'));
    });
    after(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(noCurlPath, { recursive: true, force: true });
    });

    const check = (command: string, path: string) =>
      exitCode('/bin/sh', ['-c', command.replaceAll('http://localhost:8000', url)], { PATH: path });

    for (const name of NIM_SERVICES) {
      it(`${name}: fails while the NIM answers 503, passes once it answers 200`, async (t) => {
        if (!curl) return t.skip('curl is not installed here');
        const command = main.services[name]!.healthcheck.test[1] as string;
        status = 503;
        assert.notEqual(await check(command, process.env.PATH ?? ''), 0, 'unhealthy while loading');
        // The trap: the same request without -f (and without the fallback) "passes" on 503.
        const naive = command.replace(/^curl -f(\S*)/, 'curl -$1').split(' || ')[0]!;
        assert.equal(await check(naive, process.env.PATH ?? ''), 0, 'the stand-in really answers 503');
        status = 200;
        assert.equal(await check(command, process.env.PATH ?? ''), 0, 'healthy when ready');
      });

      it(`${name}: behaves the same in an image without curl`, async (t) => {
        if (!python) return t.skip('python3 is not installed here');
        const command = main.services[name]!.healthcheck.test[1] as string;
        status = 503;
        assert.notEqual(await check(command, noCurlPath), 0, 'unhealthy while loading');
        status = 200;
        assert.equal(await check(command, noCurlPath), 0, 'healthy when ready');
      });
    }
  });
});
