/**
 * Text generation at the level of token ids: {@link ai.nos.generate.TokenGenerator} runs a
 * decoder-only model one token at a time for many sequences at once (continuous batching), with
 * each sequence's key/value cache kept on the model's device between steps. Tokenization, text
 * and stop strings live in nos-hub's {@code TextGenerator}, built on this package.
 */
package ai.nos.generate;
