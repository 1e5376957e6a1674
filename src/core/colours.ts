/** Per-emotion colours of boxes, labels and bars, in every drawing (SVG/PNG, video, the page). No Node imports. */
export const EMOTION_COLOURS: Readonly<Record<string, string>> = {
  angry: '#e53935',
  disgust: '#43a047',
  fear: '#8e24aa',
  happy: '#fdd835',
  sad: '#1e88e5',
  surprise: '#fb8c00',
  neutral: '#bdbdbd',
};

/** Colour of a face without an emotion, and of an emotion outside the table. */
export const DEFAULT_COLOUR = '#00e5ff';

/** The colour of an emotion label (DEFAULT_COLOUR for none or an unknown one). */
export function emotionColour(label: string | undefined): string {
  return (label !== undefined && EMOTION_COLOURS[label]) || DEFAULT_COLOUR;
}
