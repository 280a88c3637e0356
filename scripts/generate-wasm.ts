import { writeFileSync } from 'node:fs';
import { compiledDotProducts } from './wasm-source.js';

/**
 * Writes src/store/dot-products-wasm.ts from src/store/dot-products.wat (npm run generate:wasm),
 * so that the service loads the module without a WebAssembly toolchain at run time;
 * test/store/flat-vectors.test.ts checks the committed file is current.
 */
writeFileSync(new URL('../src/store/dot-products-wasm.ts', import.meta.url), await compiledDotProducts());
