/** The five documents and five queries of the LangChain NVIDIA embeddings example. */
export const EXAMPLE_DOCUMENTS = [
  "Komchatka's weather is cold, with long, severe winters.",
  'Italy is famous for pasta, pizza, gelato, and espresso.',
  "I can't recall personal names, only provide information.",
  "Life's purpose varies, often seen as personal fulfillment.",
  "Enjoying life's moments is indeed a wonderful approach.",
];

export const EXAMPLE_QUERIES = [
  "What's the weather like in Komchatka?",
  'What kinds of food is Italy known for?',
  "What's my name? I bet you don't remember...",
  "What's the point of life anyways?",
  'The point of life is to have fun :D',
];
