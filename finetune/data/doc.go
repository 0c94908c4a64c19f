// Package data reads training data for fine-tuning in the formats users
// have and turns it into batches of nn.Tensor inputs and labels.
//
// # Datasets
//
// A Dataset is random access: Len, Get(i) returning one sample's input
// tensor without the batch dimension and its class index, Classes and
// InputShape. Implementations:
//
//   - ImageFolder (OpenImageFolder, OpenImageSplits): ROOT/<class>/**/*.png,
//     .jpg, .jpeg, .gif, class names = sorted folder names or a labels file.
//     A ROOT with train/ and val/ (or test/) folders yields both splits.
//     Images are decoded on demand (nothing is preloaded unless
//     FolderOptions.Cache is set), so folders larger than memory work.
//   - IDX (OpenIDX, OpenFashionMNIST): MNIST-format image and label files,
//     raw or gzipped, read fully into memory; classes can be selected and
//     relabelled (IDXOptions.Classes) and limited to the first K samples of
//     each class (IDXOptions.PerClass).
//   - Memory (OpenCSV, OpenNPY, NewMemory, NewMemoryRegression): in-memory
//     float32 samples from a CSV table (numeric features, label column by
//     header name, class names or numbers, or a float target for
//     regression) or from X.npy / y.npy arrays.
//   - Subset: an index view of another dataset (optionally relabelling);
//     Split makes a stratified train/validation pair of views and Select
//     keeps chosen classes (relabelled 0..K-1) and the first K samples per
//     class of any classification dataset.
//
// Open detects the format of a path (CSV file, NPY pair, IDX folder, image
// folder with or without train/val splits) and returns the training and,
// when the data has one, the validation dataset.
//
// Optional interfaces: Labeler (labels without decoding, used by Split and
// ClassCounts), Regressor (float targets; such datasets report label -1 and
// no classes) and AugmentGetter (augmentation before tensor conversion).
// Helper functions (LabelOf, TargetOf, TargetDim, GetAugmented) look
// through Subset views.
//
// # Image pipeline
//
// Images and IDX digits go through the same steps, configured by
// ImageOptions (ImageOptionsFor derives size, channels and layout from a
// model's input shape):
//
//  1. decode (standard library PNG, JPEG, GIF) to 8-bit pixels, converting
//     to the model's channel count (gray replicated to RGB; RGB to gray with
//     ITU-R 601 luma; alpha dropped);
//  2. resize with an antialiased bilinear (triangle) filter like PIL's
//     Image.resize(BILINEAR): either torchvision's eval transform (shorter
//     side to size/0.875, then centre crop; ResizeCrop, the default for
//     image folders) or a direct resize to the input size (ResizeDirect, the
//     default for IDX data). Values stay in float32 between the passes, so
//     they differ from PIL's 8-bit results by at most about one grey level;
//  3. optional augmentation (Augment);
//  4. normalization x = (p/255·Scale − mean)/std with presets NormImageNet(),
//     NormUnit() ([0,1], the zero value), NormRaw255() ([0,255], e.g. the ONNX
//     zoo's mnist-8) and NormSigned() ([-1,1]);
//  5. layout NCHW ([C,H,W] samples) or NHWC ([H,W,C]).
//
// # Augmentation
//
// Augment (ParseAugment("flip,crop:4,rrc")) offers a horizontal flip, a
// random crop with zero padding and a random resized crop (scale 0.08–1,
// aspect ratio 3/4–4/3 like torchvision). Image datasets apply it to the
// decoded image (the random resized crop sees the whole original image);
// other datasets apply it to their rank-3 tensors (Augment.ApplyTensor).
//
// # Loader
//
// A Loader cuts an epoch into batches (Minibatch: X [N,...], Labels,
// Targets for regression, dataset Indices). Its output is a pure function
// of (Seed, epoch, batch): epoch e's order is a permutation drawn from
// (Seed, e), and sample i of epoch e is augmented with its own generator
// SampleRNG(Seed, e, i). Runs are therefore reproducible whatever the
// goroutine timing, and an interrupted run resumes exactly with
// EpochFrom(ctx, epoch, batch). Samples of a batch load in parallel
// (Workers) and batches are prefetched by a background goroutine into a
// bounded buffer (Prefetch), so loading overlaps training:
//
//	l, err := data.NewLoader(train, data.LoaderOptions{BatchSize: 32, Shuffle: true, Seed: 1, Augment: aug})
//	for epoch := range epochs {
//		for mb, err := range l.Epoch(ctx, epoch) {
//			if err != nil {
//				return err // loading error or ctx.Err()
//			}
//			step(mb.X, mb.Labels)
//		}
//	}
//
// Cancelling ctx or leaving the loop early stops the background goroutine
// before the loop statement returns.
//
// The package depends on nn only (finetune imports data, never the
// reverse).
package data
