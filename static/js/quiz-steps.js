// One question per screen: a progressive enhancement of the quiz pages (templates/quiz/step.html).
//
// Without this script a quiz page shows all of its questions and posts them with "Weiter". With
// it, the page shows one question at a time: a tap on an option answers and moves on after a
// short pause (another tap, a key or "Zurück" interrupts it); "Zurück" steps back within the page
// before it posts back to the previous page; arrow keys and number keys choose, Enter moves on.
// The form still posts the whole page at once, so the server sees exactly what it sees without
// JavaScript. The progress bar counts from the server's figures (data-questions-before and
// data-questions-total on the form), so extra questions count as soon as the server asks them.
// Loaded as an external module: the Content-Security-Policy allows no inline script.

const PAUSE_MS = 350; // long enough to see the chosen card light up, short enough not to wait

const form = document.querySelector("form[data-quiz-steps]");
if (form) {
  enhance(form);
}

function enhance(form) {
  const questions = [...form.querySelectorAll("fieldset.question")];
  const next = form.querySelector('button[value="next"]');
  const back = form.querySelector('button[value="back"]');
  const label = document.querySelector(".progress-label[data-question-label]");
  const bar = document.querySelector("progress.progress-bar");
  const before = Number(form.dataset.questionsBefore) || 0;
  const total = Number(form.dataset.questionsTotal) || questions.length;
  const firstPage = back === null || back.hidden;
  const vorlage = form.querySelector("template#fehler-vorlage");
  let current = -1;
  let pending = null; // the timer of a tap's move to the next question
  let pressed = null; // the option card a pointer went down on, until its click
  let submitting = false;

  const answered = (fieldset) => fieldset.querySelector("input:checked") !== null;
  const radios = (fieldset) => [...fieldset.querySelectorAll('input[type="radio"]')];

  function cancel() {
    clearTimeout(pending);
    pending = null;
  }

  function removeSummaries() {
    form.querySelectorAll(".error-summary").forEach((summary) => summary.remove());
  }

  function show(index, { focus = true } = {}) {
    cancel();
    if (current >= 0 && index !== current) {
      removeSummaries(); // it has said its piece; each question keeps its own message
    }
    current = index;
    questions.forEach((fieldset, i) => {
      fieldset.hidden = i !== index;
    });
    if (back) {
      back.hidden = firstPage && index === 0;
    }
    const k = before + index + 1;
    if (label) {
      label.textContent = label.dataset.questionLabel.replace("{k}", k).replace("{n}", total);
    }
    if (bar) {
      bar.max = total;
      bar.value = k - 1;
    }
    const fieldset = questions[index];
    if (fieldset.getBoundingClientRect().top < 0) {
      form.scrollIntoView({ block: "start" });
    }
    if (focus) {
      const target = fieldset.querySelector("input:checked") || radios(fieldset)[0];
      target.focus({ preventScroll: true });
    }
  }

  function markMissing(fieldset) {
    removeSummaries();
    if (!fieldset.classList.contains("has-error") && vorlage) {
      const message = vorlage.content.querySelector(".field-error").cloneNode(true);
      message.id = `${fieldset.id}-fehler`;
      fieldset.querySelector("legend").after(message);
      fieldset.classList.add("has-error");
      fieldset.setAttribute("aria-describedby", message.id);
    }
    if (vorlage) {
      const summary = vorlage.content.querySelector(".error-summary").cloneNode(true);
      const link = summary.querySelector("a");
      link.href = `#${fieldset.id}`;
      link.textContent = link.textContent.replace("{n}", fieldset.dataset.number);
      form.prepend(summary);
      summary.focus();
    }
  }

  function clearMissing(fieldset) {
    if (fieldset.classList.contains("has-error")) {
      fieldset.classList.remove("has-error");
      fieldset.querySelectorAll(".field-error").forEach((message) => message.remove());
      fieldset.removeAttribute("aria-describedby");
    }
  }

  // Every move forward goes through "Weiter" (a tap's pause ends in a click on it, and Enter in a
  // question submits the form with it, its first button), every move back through "Zurück".
  form.addEventListener("submit", (event) => {
    if (submitting) {
      event.preventDefault();
      return;
    }
    cancel();
    if (event.submitter && event.submitter.value === "back") {
      if (current > 0) {
        event.preventDefault();
        show(current - 1);
        return;
      }
      submitting = true;
      return;
    }
    const fieldset = questions[current];
    if (!answered(fieldset)) {
      event.preventDefault();
      markMissing(fieldset);
      return;
    }
    if (current < questions.length - 1) {
      event.preventDefault();
      show(current + 1);
      return;
    }
    // The last question: the page goes to the server once every question on it is answered
    // (an error summary's link may have skipped one).
    const missing = questions.findIndex((other) => !answered(other));
    if (missing >= 0) {
      event.preventDefault();
      show(missing);
      markMissing(questions[missing]);
      return;
    }
    submitting = true;
  });

  form.addEventListener("pointerdown", (event) => {
    const card = event.target.closest("label.option");
    if (card === null || !questions[current].contains(card)) {
      cancel();
    }
    pressed = card;
  });
  // A touch that turned into a scroll taps nothing.
  form.addEventListener("pointercancel", () => {
    pressed = null;
  });

  // A click on an option card from a pointer (a tap) answers and moves on after the pause; a
  // click from the keyboard (Space, arrow keys) only chooses.
  form.addEventListener("click", (event) => {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || input.type !== "radio") {
      return;
    }
    const fieldset = input.closest("fieldset.question");
    clearMissing(fieldset);
    removeSummaries();
    const tapped = pressed !== null && pressed.contains(input);
    pressed = null;
    cancel();
    if (tapped && !submitting) {
      pending = setTimeout(() => next.click(), PAUSE_MS);
    }
  });

  // Number keys choose anywhere on the page; Enter in a question moves on (see "submit").
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") {
      cancel();
    }
    if (event.altKey || event.ctrlKey || event.metaKey || !/^[1-9]$/.test(event.key)) {
      return;
    }
    const option = radios(questions[current])[Number(event.key) - 1];
    if (option) {
      event.preventDefault();
      option.checked = true;
      option.focus();
      clearMissing(questions[current]);
      removeSummaries();
    }
  });

  // Links of an error summary lead to a question that may be hidden: show it first.
  form.addEventListener("click", (event) => {
    const link = event.target.closest(".error-summary a[href^='#']");
    if (link === null) {
      return;
    }
    const index = questions.findIndex((fieldset) => `#${fieldset.id}` === link.hash);
    if (index >= 0) {
      event.preventDefault();
      show(index);
    }
  });

  // A page shown again after the back button of the browser must not stay "submitting".
  window.addEventListener("pageshow", () => {
    submitting = false;
  });

  form.classList.add("is-stepped");
  const withError = questions.findIndex((fieldset) => fieldset.classList.contains("has-error"));
  const open = questions.findIndex((fieldset) => !answered(fieldset));
  const start = withError >= 0 ? withError : open >= 0 ? open : questions.length - 1;
  // On arrival the focus stays where the page put it (the error summary, if there is one).
  show(start, { focus: false });
}
