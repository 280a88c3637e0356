import { seededRandom } from '../support.js';

/**
 * The labelled corpus of bench:retrieval, generated (seeded, so every run and every machine gets
 * the same one): product notes in English, German, French and Chinese that share templates and
 * vocabulary, so that many documents look alike and only their identifiers (part numbers such as
 * ZX-4417, error codes such as E1234, function names) tell them apart; and questions of five kinds,
 * each with the ids of the documents that answer it:
 *   code        — an exact identifier ("What does error E4417 mean?")
 *   paraphrase  — the symptom in other words or other inflections than the document's
 *   typo        — a code or paraphrase question with misspelt words (the identifier intact)
 *   multilingual — German, French or Chinese questions about the documents in that language
 *   function    — a function name from a code note ("What does parseConfigFile return?")
 */

export interface CorpusDocument {
  id: string;
  text: string;
  metadata: { language: string; device: string };
}

export type QuestionKind = 'code' | 'paraphrase' | 'typo' | 'multilingual' | 'function';

export interface CorpusQuestion {
  text: string;
  kind: QuestionKind;
  relevant: string[];
}

export interface Corpus {
  documents: CorpusDocument[];
  questions: CorpusQuestion[];
}

const DEVICES = ['pump', 'valve', 'compressor', 'sensor', 'controller', 'inverter', 'router', 'thermostat', 'drill', 'scanner'];
/** Each symptom as documents say it and as a question says it (other words, other inflections). */
const SYMPTOMS: Array<{ document: string; question: string; fix: string }> = [
  { document: 'overheats after an hour', question: 'is overheating and getting too hot', fix: 'clean the cooling fins and check the fan' },
  { document: 'vibrates loudly', question: 'shakes with loud vibration noise', fix: 'tighten the mounting bolts and balance the rotor' },
  { document: 'loses pressure', question: 'pressure keeps dropping', fix: 'replace the inlet seal and purge the line' },
  { document: 'stops responding', question: 'froze and does not respond anymore', fix: 'hold the reset button for ten seconds' },
  { document: 'leaks oil', question: 'is leaking oil onto the floor', fix: 'renew the gasket and refill the reservoir' },
  { document: 'shows a blinking red light', question: 'light blinks red', fix: 'update the firmware from the service menu' },
  { document: 'drains the battery overnight', question: 'battery drained by morning', fix: 'disable standby polling in the settings' },
  { document: 'reports wrong readings', question: 'readings are incorrect', fix: 'recalibrate against the reference gauge' },
];
const ADJECTIVES = ['compact', 'industrial', 'heavy-duty', 'portable', 'smart', 'quiet', 'marine', 'outdoor'];
const USES = ['water treatment', 'greenhouses', 'workshops', 'data centres', 'laboratories', 'farms', 'ships', 'warehouses'];
const PREFIXES = ['ZX', 'QR', 'HT', 'MK', 'PL', 'VX', 'TB', 'NE'];

const TRANSLATIONS = {
  de: {
    devices: ['Pumpe', 'Ventil', 'Kompressor', 'Sensor', 'Steuerung', 'Wechselrichter', 'Router', 'Thermostat', 'Bohrer', 'Scanner'],
    symptom: ['überhitzt nach einer Stunde', 'vibriert laut', 'verliert Druck', 'reagiert nicht mehr', 'verliert Öl', 'zeigt ein rot blinkendes Licht', 'entleert den Akku über Nacht', 'meldet falsche Messwerte'],
    question: (device: string, symptom: string) => `Was tun, wenn die ${device} ${symptom}?`,
    document: (code: string, device: string, symptom: string, error: string) =>
      `${code} ${device}: Wenn das Gerät ${symptom}, bitte den Kundendienst anrufen. Fehler ${error} bedeutet, dass die ${device} gewartet werden muss.`,
    codeQuestion: (error: string) => `Was bedeutet Fehler ${error}?`,
  },
  fr: {
    devices: ['pompe', 'vanne', 'compresseur', 'capteur', 'contrôleur', 'onduleur', 'routeur', 'thermostat', 'perceuse', 'scanner'],
    symptom: ['surchauffe après une heure', 'vibre fortement', 'perd de la pression', 'ne répond plus', 'fuit de l’huile', 'affiche un voyant rouge clignotant', 'vide la batterie la nuit', 'donne des mesures fausses'],
    question: (device: string, symptom: string) => `Que faire si la ${device} ${symptom} ?`,
    document: (code: string, device: string, symptom: string, error: string) =>
      `${code} ${device} : si l’appareil ${symptom}, appelez le service client. L’erreur ${error} signifie que la ${device} doit être révisée.`,
    codeQuestion: (error: string) => `Que signifie l’erreur ${error} ?`,
  },
  zh: {
    devices: ['水泵', '阀门', '压缩机', '传感器', '控制器', '逆变器', '路由器', '恒温器', '电钻', '扫描仪'],
    symptom: ['运行一小时后过热', '振动很大', '压力下降', '没有反应', '漏油', '红灯闪烁', '一夜之间耗尽电池', '读数错误'],
    question: (device: string, symptom: string) => `${device}${symptom}怎么办？`,
    document: (code: string, device: string, symptom: string, error: string) =>
      `${code}型${device}：如果设备${symptom}，请联系售后服务。错误代码${error}表示${device}需要检修。`,
    codeQuestion: (error: string) => `错误代码${error}是什么意思？`,
  },
} as const;

const FUNCTIONS = ['parseConfigFile', 'flush_write_buffer', 'resolveHostAlias', 'compact_segments', 'retryWithBackoff', 'decode_frame_header', 'loadTlsBundle', 'rotate_log_segment'];
const RETURNS = ['a promise of the parsed settings', 'the number of bytes written', 'the resolved address list', 'the segments removed', 'the last result or throws', 'the header fields', 'the certificate chain', 'the new segment number'];

/** Swaps two neighbouring letters of one longer word, as a hurried typist does. */
function misspell(text: string, random: () => number): string {
  const words = text.split(' ');
  const candidates = words.map((word, index) => ({ word, index })).filter(({ word }) => /^[a-z]{5,}$/.test(word));
  const pick = candidates[Math.floor(random() * candidates.length)];
  if (!pick) return text;
  const at = 1 + Math.floor(random() * (pick.word.length - 2));
  const [first, second] = [pick.word[at] as string, pick.word[at + 1] as string];
  // Swapping a doubled letter changes nothing: drop one of them instead.
  words[pick.index] = pick.word.slice(0, at) + (first === second ? first : second + first) + pick.word.slice(at + 2);
  return words.join(' ');
}

export function generateCorpus(options: { seed?: number; englishDocuments?: number; perLanguage?: number } = {}): Corpus {
  const random = seededRandom(options.seed ?? 25);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const documents: CorpusDocument[] = [];
  const questions: CorpusQuestion[] = [];
  const used = new Set<string>();
  const uniqueCode = (make: () => string) => {
    let code = make();
    while (used.has(code)) code = make();
    used.add(code);
    return code;
  };
  const partNumber = () => uniqueCode(() => `${pick(PREFIXES)}-${1000 + Math.floor(random() * 9000)}`);
  const errorCode = () => uniqueCode(() => `E${1000 + Math.floor(random() * 9000)}`);

  const bySymptom = new Map<string, string[]>();
  const englishCount = options.englishDocuments ?? 320;
  for (let n = 0; n < englishCount; n++) {
    const deviceIndex = n % DEVICES.length;
    const symptomIndex = Math.floor(n / DEVICES.length) % SYMPTOMS.length;
    const device = DEVICES[deviceIndex] as string;
    const symptom = SYMPTOMS[symptomIndex] as (typeof SYMPTOMS)[number];
    const part = partNumber();
    const error = errorCode();
    const id = `en-${String(n).padStart(4, '0')}`;
    const text =
      `${part} ${device}: the ${pick(ADJECTIVES)} ${device} for ${pick(USES)}. When the ${device} ${symptom.document}, ${symptom.fix}. ` +
      `Error ${error} means the ${device} needs service. Keep the ${device} dry and check it every month.`;
    documents.push({ id, text, metadata: { language: 'en', device } });
    const key = `${deviceIndex}/${symptomIndex}`;
    bySymptom.set(key, [...(bySymptom.get(key) ?? []), id]);
    if (n % 4 === 0) questions.push({ text: `What does error ${error} mean?`, kind: 'code', relevant: [id] });
    if (n % 4 === 1) questions.push({ text: `Where is the manual for ${part}?`, kind: 'code', relevant: [id] });
    if (n % 8 === 2) questions.push({ text: misspell(`what does error ${error} mean on the ${device}`, random), kind: 'typo', relevant: [id] });
  }
  for (const [key, ids] of bySymptom) {
    const [deviceIndex, symptomIndex] = key.split('/').map(Number) as [number, number];
    const device = DEVICES[deviceIndex] as string;
    const symptom = SYMPTOMS[symptomIndex] as (typeof SYMPTOMS)[number];
    const question = `My ${device} ${symptom.question}, what should I do?`;
    questions.push({ text: question, kind: 'paraphrase', relevant: ids });
    if ((deviceIndex + symptomIndex) % 3 === 0) questions.push({ text: misspell(question.toLowerCase(), random), kind: 'typo', relevant: ids });
  }

  const perLanguage = options.perLanguage ?? 40;
  for (const [language, words] of Object.entries(TRANSLATIONS)) {
    const groups = new Map<string, string[]>();
    for (let n = 0; n < perLanguage; n++) {
      const deviceIndex = n % DEVICES.length;
      const symptomIndex = Math.floor(n / DEVICES.length) % SYMPTOMS.length;
      const device = words.devices[deviceIndex] as string;
      const error = errorCode();
      const id = `${language}-${String(n).padStart(4, '0')}`;
      documents.push({ id, text: words.document(partNumber(), device, words.symptom[symptomIndex] as string, error), metadata: { language, device: DEVICES[deviceIndex] as string } });
      const key = `${deviceIndex}/${symptomIndex}`;
      groups.set(key, [...(groups.get(key) ?? []), id]);
      if (n % 3 === 0) questions.push({ text: words.codeQuestion(error), kind: 'multilingual', relevant: [id] });
    }
    for (const [key, ids] of groups) {
      const [deviceIndex, symptomIndex] = key.split('/').map(Number) as [number, number];
      questions.push({ text: words.question(words.devices[deviceIndex] as string, words.symptom[symptomIndex] as string), kind: 'multilingual', relevant: ids });
    }
  }

  FUNCTIONS.forEach((name, index) => {
    const id = `code-${String(index).padStart(4, '0')}`;
    documents.push({
      id,
      text: `The function ${name} takes the options object and returns ${RETURNS[index]}. It is called by the ingest worker; see the storage notes for when it runs.`,
      metadata: { language: 'en', device: 'software' },
    });
    questions.push({ text: `What does ${name} return?`, kind: 'function', relevant: [id] });
  });
  return { documents, questions };
}

if (process.argv[1]?.endsWith('corpus.ts')) {
  process.stdout.write(`${JSON.stringify(generateCorpus(), null, 1)}\n`);
}
