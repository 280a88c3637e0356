import { createParser } from 'eventsource-parser';

export interface ReceivedEvent {
  event: string;
  data: any;
}

/** Reads a whole Server-Sent Events body; data that is JSON is parsed, as both APIs here send it. */
export async function readEvents(response: Response): Promise<ReceivedEvent[]> {
  const events: ReceivedEvent[] = [];
  const parser = createParser({
    onEvent: ({ event, data }) => {
      let parsed: unknown = data;
      try {
        parsed = JSON.parse(data);
      } catch {
        // `[DONE]` and the like stay text.
      }
      events.push({ event: event ?? 'message', data: parsed });
    },
  });
  const decoder = new TextDecoder();
  for await (const piece of response.body as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(piece, { stream: true }));
  return events;
}
