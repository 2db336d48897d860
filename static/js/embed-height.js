// When the quiz is embedded in the coach's website (an iframe), tell the page around it how tall
// this page is, so the frame fits its content: on load and whenever the height changes. Only the
// height goes out (never the address: a result's address is its secret), to any page that frames
// this one; the coach's snippet accepts it only from the quiz's own origin. Without a frame, or
// without JavaScript, nothing happens and the quiz works as ever.
if (window.parent !== window) {
  let last = 0;
  const post = (reason) => {
    const height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height === last && reason !== "load") return;
    last = height;
    window.parent.postMessage({ type: "engpass-quiz:height", height, reason }, "*");
  };
  post("load");
  new ResizeObserver(() => post("resize")).observe(document.documentElement);
}
