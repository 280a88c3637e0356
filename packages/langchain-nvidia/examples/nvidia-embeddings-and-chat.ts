/**
 * The LangChain NVIDIA notebook, in TypeScript: embed five queries and five documents and show
 * their cross-similarity, then answer from a retriever over HNSWLib with ChatNVIDIA, without and
 * with an answer language.
 *
 *   NVIDIA_API_KEY=nvapi-… npm run example                         # the hosted API catalog
 *   NIM_EMBEDDINGS_URL=http://nim-embed:8000/v1 NIM_LLM_URL=http://nim-llm:8000/v1 npm run example
 */
import { pathToFileURL } from 'node:url';
import { HNSWLib } from '@langchain/community/vectorstores/hnswlib';
import type { DocumentInterface } from '@langchain/core/documents';
import { StringOutputParser } from '@langchain/core/output_parsers';
import { ChatPromptTemplate } from '@langchain/core/prompts';
import { RunnablePassthrough, RunnableSequence } from '@langchain/core/runnables';
import { ChatNVIDIA, NVIDIAEmbeddings } from '@nim-rag/langchain-nvidia';

export const QUERIES = [
  "What's the weather like in Komchatka?",
  'What kinds of food is Italy known for?',
  "What's my name? I bet you don't remember...",
  "What's the point of life anyways?",
  'The point of life is to have fun :D',
];

export const DOCUMENTS = [
  "Komchatka's weather is cold, with long, severe winters.",
  'Italy is famous for pasta, pizza, gelato, and espresso.',
  "I can't recall personal names, only provide information.",
  "Life's purpose varies, often seen as personal fulfillment.",
  "Enjoying life's moments is indeed a wonderful approach.",
];

export interface ExampleResult {
  /** similarity[q][d]: cosine similarity of query q and document d. */
  similarity: number[][];
  answer: string;
  answerInLanguage: string;
}

const cosine = (a: number[], b: number[]) => {
  let dot = 0;
  let aa = 0;
  let bb = 0;
  a.forEach((value, index) => {
    const other = b[index] as number;
    dot += value * other;
    aa += value * value;
    bb += other * other;
  });
  return dot / Math.sqrt(aa * bb);
};

/** The matrix as numbers and as a heat map of shaded blocks, the notebook's plot in a terminal. */
export function renderMatrix(similarity: number[][]): string {
  const shades = ' ░▒▓█';
  const values = similarity.flat();
  const low = Math.min(...values);
  const high = Math.max(...values);
  const shade = (value: number) => shades[Math.min(4, Math.floor(((value - low) / (high - low || 1)) * 5))] as string;
  const header = `        ${DOCUMENTS.map((_, d) => `  doc ${d + 1}`).join('')}`;
  const rows = similarity.map((row, q) => `query ${q + 1} ${row.map((value) => ` ${value.toFixed(3)}`).join('')}   ${row.map(shade).map((s) => s.repeat(2)).join('')}`);
  return [header, ...rows].join('\n');
}

interface Question {
  question: string;
  language: string;
}

const formatDocuments = (documents: DocumentInterface[]) => documents.map((document) => document.pageContent).join('\n');

export async function runExample(embeddings: NVIDIAEmbeddings, chat: ChatNVIDIA, print: (line: string) => void): Promise<ExampleResult> {
  const queryVectors = await Promise.all(QUERIES.map((query) => embeddings.embedQuery(query)));
  const documentVectors = await embeddings.embedDocuments(DOCUMENTS);
  const similarity = queryVectors.map((query) => documentVectors.map((document) => cosine(query, document)));
  print('Cross-similarity of the queries (rows) and documents (columns):');
  print(renderMatrix(similarity));

  const store = await HNSWLib.fromTexts(['harrison worked at kensho'], [{}], embeddings);
  const retriever = store.asRetriever();

  const prompt = ChatPromptTemplate.fromMessages([
    ['system', 'Answer solely based on the following context:\n<Documents>\n{context}\n</Documents>'],
    ['user', '{question}'],
  ]);
  const chain = RunnableSequence.from([
    { context: retriever.pipe(formatDocuments), question: new RunnablePassthrough() },
    prompt,
    chat,
    new StringOutputParser(),
  ]);
  const answer = await chain.invoke('where did harrison work?');
  print(`\nwhere did harrison work?\n${answer}`);

  const promptWithLanguage = ChatPromptTemplate.fromMessages([
    [
      'system',
      'Answer using information solely based on the following context:\n<Documents>\n{context}\n</Documents>\nSpeak only in the following language: {language}',
    ],
    ['user', '{question}'],
  ]);
  const chainWithLanguage = RunnableSequence.from([
    {
      context: (input: Question) => retriever.pipe(formatDocuments).invoke(input.question),
      question: (input: Question) => input.question,
      language: (input: Question) => input.language,
    },
    promptWithLanguage,
    chat,
    new StringOutputParser(),
  ]);
  const answerInLanguage = await chainWithLanguage.invoke({ question: 'where did harrison work', language: 'italian' });
  print(`\nwhere did harrison work (in italian)?\n${answerInLanguage}`);
  return { similarity, answer, answerInLanguage };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const embeddings = new NVIDIAEmbeddings({ model: process.env.NIM_EMBEDDINGS_MODEL, baseUrl: process.env.NIM_EMBEDDINGS_URL });
  const chat = new ChatNVIDIA({ model: process.env.NIM_LLM_MODEL, baseUrl: process.env.NIM_LLM_URL });
  try {
    await runExample(embeddings, chat, (line) => process.stdout.write(`${line}\n`));
  } finally {
    await Promise.all([embeddings.close(), chat.close()]);
  }
}
