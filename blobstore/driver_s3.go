//go:build !no_s3

package blobstore

import _ "gocloud.dev/blob/s3blob" // registers its URL scheme
