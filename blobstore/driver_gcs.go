//go:build !no_gcs

package blobstore

import _ "gocloud.dev/blob/gcsblob" // registers its URL scheme
