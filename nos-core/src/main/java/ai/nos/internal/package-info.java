/**
 * Internals of NOS: not API, may change in any release. Pure-Java pieces (input validation,
 * reference counting, and dynamic batching in {@link ai.nos.internal.batch}) live here; everything
 * that touches JavaCPP lives in {@link ai.nos.internal.torch}.
 */
package ai.nos.internal;
