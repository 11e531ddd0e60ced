// AudioWorklet processor: microphone samples -> mono 16-bit little-endian PCM chunks.
//
// Runs on the audio rendering thread.  Every `chunkFrames` frames (100 ms at
// the context's rate) it posts {pcm: ArrayBuffer, rms: number} to the page,
// which sends the buffer as one binary WebSocket message.  A "flush" message
// from the page posts whatever is buffered (when recording stops).

class PcmCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.frames = options.processorOptions.chunkFrames;
    this.buffer = new ArrayBuffer(this.frames * 2);
    this.view = new DataView(this.buffer);
    this.filled = 0;
    this.sumSquares = 0;
    this.port.onmessage = (event) => {
      if (event.data === "flush") this.flush();
    };
  }

  process(inputs) {
    const channels = inputs[0];
    if (channels.length > 0) {
      const n = channels[0].length;
      for (let i = 0; i < n; i++) {
        let sample = 0;
        for (const channel of channels) sample += channel[i];
        sample = Math.max(-1, Math.min(1, sample / channels.length));
        this.sumSquares += sample * sample;
        this.view.setInt16(this.filled * 2, Math.round(sample * 32767), true);
        this.filled += 1;
        if (this.filled === this.frames) this.flush();
      }
    }
    return true; // keep processing while the page holds the node
  }

  flush() {
    if (this.filled === 0) return;
    const pcm = this.buffer.slice(0, this.filled * 2);
    const rms = Math.sqrt(this.sumSquares / this.filled);
    this.port.postMessage({ pcm, rms }, [pcm]);
    this.filled = 0;
    this.sumSquares = 0;
  }
}

registerProcessor("pcm-capture", PcmCapture);
