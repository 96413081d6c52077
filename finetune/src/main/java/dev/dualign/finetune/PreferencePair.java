package dev.dualign.finetune;

/**
 * Two responses to one prompt with their scores s = r + λ·g (token ids, EOS excluded).
 *
 * @param prompt prompt tokens
 * @param first first response
 * @param second second response
 * @param firstScore s of the first
 * @param secondScore s of the second
 */
public record PreferencePair(int[] prompt, int[] first, int[] second, double firstScore, double secondScore) {}
