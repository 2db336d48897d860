// Marks the page as scripted before it is first painted (templates/quiz/step.html loads this
// render-blocking, in the head): CSS then shows only the question quiz-steps.js opens with, so
// nothing shifts when that deferred module hides the others. A browser without JavaScript never
// runs it and shows every question. (The CSS media feature `scripting` would need no request,
// but it flips when a tab switches scripts on after loading, with the module never run.)
document.documentElement.classList.add("has-script");
