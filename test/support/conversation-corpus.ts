/**
 * Texts and a three-turn conversation whose follow-ups only find the right text through the
 * earlier turns: asked alone, "And what is the weather like there?" finds Komchatka's weather;
 * condensed with the first turn's "Italy", Italy's.
 */
export const CONVERSATION_DOCUMENTS = [
  { id: 'italy-food', text: "Italy's famous food: pasta, pizza, gelato, espresso." },
  { id: 'italy-weather', text: "Italy's weather: hot, dry summers." },
  { id: 'komchatka-weather', text: "Komchatka's weather is cold, with long, severe winters." },
  { id: 'komchatka-sights', text: "Komchatka's volcanoes and brown bears draw visitors." },
];

export const TURNS = ['Tell me about Italy.', 'And what is the weather like there?', 'What food is it famous for?'] as const;
