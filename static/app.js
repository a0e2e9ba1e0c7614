// Small progressive enhancements; every page works without this file.
document.addEventListener('DOMContentLoaded', () => {
  // After a failed form submission, put the cursor in the first field that needs fixing.
  const invalid = document.querySelector('[aria-invalid="true"]');
  if (invalid) invalid.focus();
});
