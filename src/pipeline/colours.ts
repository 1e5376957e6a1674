/** Per-emotion colours shared by server-side annotation and the browser page (no Node imports). */
export const EMOTION_COLOURS: Record<string, string> = {
  angry: '#e53935',
  disgust: '#43a047',
  fear: '#8e24aa',
  happy: '#fdd835',
  sad: '#1e88e5',
  surprise: '#fb8c00',
  neutral: '#bdbdbd',
};
