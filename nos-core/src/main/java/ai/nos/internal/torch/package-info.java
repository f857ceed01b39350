/**
 * The libtorch binding, through the Bytedeco PyTorch presets. The only package where JavaCPP types
 * appear; nothing here is API.
 */
package ai.nos.internal.torch;
