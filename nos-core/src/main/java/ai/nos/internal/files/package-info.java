/**
 * Files NOS shares between processes: the one cross-process lock ({@link
 * ai.nos.internal.files.CrossProcessLock}). Not API; exported only to nos-hub and nos-optim.
 */
package ai.nos.internal.files;
