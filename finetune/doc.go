// Package finetune retrains imported models on a user's data: it replaces
// the classifier head, freezes parameters by selector, and runs a training
// loop (losses, optimizers, learning-rate schedules, validation, early
// stopping) over the native layer graph's reverse-mode gradients.
//
// The data, metrics, plot and checkpoint sub-packages hold the pieces the
// loop uses; the graft CLI only wraps this package.
package finetune
