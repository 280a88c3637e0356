export * from '../../packages/langchain-nvidia/test/support/nim-emulator.js';
